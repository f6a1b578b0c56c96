package acme

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// RFC 8555 section 6.2: every POST is a flattened JWS whose protected
// header carries alg, nonce, url and exactly one of jwk and kid. The
// checks follow Boulder's web front end (wfe2/verify.go).

type authMode int

const (
	authJWK    authMode = iota // newAccount: the request carries its key
	authKID                    // everything else: the request names an account
	authEither                 // revokeCert: the account, or the certificate's key
)

// maxJWSBody bounds a request body; the largest honest one is a CSR.
const maxJWSBody = 64 << 10

// request is a verified POST.
type request struct {
	r         *http.Request
	profile   string
	base      string
	payload   []byte
	postAsGet bool                 // the payload is empty (section 6.3)
	jwk       *jose.JSONWebKey     // the key that signed
	account   *storage.ACMEAccount // set for kid requests
	header    protectedHeader
}

type protectedHeader struct {
	Alg   string          `json:"alg"`
	Nonce string          `json:"nonce"`
	URL   string          `json:"url"`
	JWK   json.RawMessage `json:"jwk"`
	KID   string          `json:"kid"`
}

// response is what a POST handler returns: a JSON body (or raw bytes
// with ContentType), a status and extra headers.
type response struct {
	status      int
	body        any
	raw         []byte
	contentType string
	location    string
	links       []string
	retryAfter  bool
}

type handler func(ctx context.Context, req *request) (*response, error)

// post wraps a handler: verify the JWS, call it, answer it. Every answer
// carries a fresh Replay-Nonce and the index link.
func (s *Server) post(mode authMode, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", `<`+baseURL(r)+`/directory>;rel="index"`)
		w.Header().Set("Cache-Control", "no-store")
		s.setNonce(w, r)
		req, err := s.verify(r, mode)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		resp, err := h(r.Context(), req)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if resp.location != "" {
			w.Header().Set("Location", resp.location)
		}
		for _, l := range resp.links {
			w.Header().Add("Link", l)
		}
		if resp.retryAfter {
			w.Header().Set("Retry-After", strconv.Itoa(int(s.set.RetryAfter.Seconds())))
		}
		if resp.raw != nil {
			w.Header().Set("Content-Type", resp.contentType)
			w.WriteHeader(resp.status)
			w.Write(resp.raw)
			return
		}
		writeJSON(w, resp.status, resp.body)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// verify checks one POST. The order matters: nothing that a forger can
// produce consumes a nonce (the signature is checked first), and the nonce
// is consumed before the URL is compared, as in Boulder.
func (s *Server) verify(r *http.Request, mode authMode) (*request, error) {
	ctx := r.Context()
	// Section 6.2: the media type is application/jose+json.
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/jose+json" {
		return nil, prob(probMalformed, http.StatusUnsupportedMediaType, `Content-Type must be "application/jose+json"`)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxJWSBody+1))
	if err != nil {
		return nil, malformed("cannot read the request body")
	}
	if len(body) > maxJWSBody {
		return nil, malformed("request body exceeds %d bytes", maxJWSBody)
	}

	// The flattened JSON serialization and nothing else: no "signatures"
	// array (general serialization), no unprotected "header".
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, malformed("the body is not a JSON object: a flattened JWS is required")
	}
	if _, ok := fields["signatures"]; ok {
		return nil, malformed("JWS with a signatures array: only the flattened serialization with one signature is accepted")
	}
	if _, ok := fields["header"]; ok {
		return nil, malformed("JWS has an unprotected header: every header parameter must be protected")
	}
	for k := range fields {
		if k != "protected" && k != "payload" && k != "signature" {
			return nil, malformed("JWS has an unknown member %q", k)
		}
	}
	for _, k := range []string{"protected", "payload", "signature"} {
		if _, ok := fields[k]; !ok {
			return nil, malformed("JWS has no %q member", k)
		}
	}

	var protB64 string
	if err := json.Unmarshal(fields["protected"], &protB64); err != nil {
		return nil, malformed("JWS protected header is not a string")
	}
	protJSON, err := base64.RawURLEncoding.DecodeString(protB64)
	if err != nil {
		return nil, malformed("JWS protected header is not base64url")
	}
	var hdr protectedHeader
	if err := json.Unmarshal(protJSON, &hdr); err != nil {
		return nil, malformed("JWS protected header is not a JSON object")
	}
	if !slices.Contains(allowedAlgs, hdr.Alg) {
		p := prob(probBadSignatureAlg, http.StatusBadRequest, "JWS algorithm %q is not accepted (accepted: %s)", hdr.Alg, strings.Join(allowedAlgs, ", "))
		p.Algorithms = allowedAlgs
		return nil, p
	}
	algs := make([]jose.SignatureAlgorithm, len(allowedAlgs))
	for i, a := range allowedAlgs {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	jws, err := jose.ParseSignedJSON(string(body), algs)
	if err != nil {
		return nil, malformed("JWS cannot be parsed")
	}
	if len(jws.Signatures) != 1 {
		return nil, malformed("JWS must carry exactly one signature")
	}

	req := &request{r: r, profile: chi.URLParam(r, "profile"), base: baseURL(r), header: hdr}
	hasJWK, hasKID := len(hdr.JWK) > 0 && string(hdr.JWK) != "null", hdr.KID != ""
	switch {
	case hasJWK && hasKID:
		return nil, malformed("JWS header has both jwk and kid; exactly one is allowed")
	case !hasJWK && !hasKID:
		return nil, malformed("JWS header has neither jwk nor kid")
	case hasJWK && mode == authKID:
		return nil, malformed("this request must be signed by an account key (kid), not an embedded jwk")
	case hasKID && mode == authJWK:
		return nil, malformed("this request must carry the new key as jwk, not a kid")
	}
	if hasJWK {
		k := jws.Signatures[0].Protected.JSONWebKey
		if k == nil {
			return nil, malformed("JWS jwk cannot be parsed")
		}
		if err := checkKey(k); err != nil {
			return nil, err
		}
		req.jwk = k
	} else {
		acct, err := s.accountByKID(ctx, req, hdr.KID)
		if err != nil {
			return nil, err
		}
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(acct.JWK); err != nil {
			return nil, errs.Wrap(errs.Internal, err, "stored key of account %s", acct.ID)
		}
		req.jwk, req.account = &k, &acct
	}
	if err := algFitsKey(hdr.Alg, req.jwk); err != nil {
		return nil, err
	}
	payload, err := jws.Verify(req.jwk)
	if err != nil {
		return nil, malformed("JWS signature does not verify")
	}
	if err := s.useNonce(ctx, hdr.Nonce); err != nil {
		return nil, err
	}
	// Section 6.4: the url header is exactly the URL this was sent to.
	if hdr.URL == "" {
		return nil, malformed("JWS header has no url")
	}
	if hdr.URL != requestURL(r) {
		return nil, unauthorized("JWS url %q does not match the request URL %q", hdr.URL, requestURL(r))
	}
	if req.account != nil && req.account.Status != storage.ACMEValid {
		return nil, unauthorized("account is %s", req.account.Status)
	}
	req.payload = payload
	req.postAsGet = len(payload) == 0
	return req, nil
}

// accountByKID resolves a kid: the account URL of this directory.
func (s *Server) accountByKID(ctx context.Context, req *request, kid string) (storage.ACMEAccount, error) {
	id, ok := strings.CutPrefix(kid, req.base+"/acct/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return storage.ACMEAccount{}, prob(probAccountDoesNotExist, http.StatusBadRequest, "kid %q is not an account of this directory", kid)
	}
	acct, err := s.store.GetACMEAccount(ctx, id)
	if errs.Is(err, errs.NotFound) || err == nil && acct.Profile != req.profile {
		return storage.ACMEAccount{}, prob(probAccountDoesNotExist, http.StatusBadRequest, "no account %q", kid)
	}
	return acct, err
}

// checkKey accepts the account key types Boulder accepts: RSA of 2048 to
// 4096 bits, ECDSA P-256 and P-384, Ed25519; public keys only.
func checkKey(k *jose.JSONWebKey) error {
	if !k.Valid() || !k.IsPublic() {
		return prob(probBadPublicKey, http.StatusBadRequest, "jwk is not a valid public key")
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		if n := pub.N.BitLen(); n < 2048 || n > 4096 {
			return prob(probBadPublicKey, http.StatusBadRequest, "RSA key of %d bits: 2048 to 4096 are accepted", n)
		}
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() && pub.Curve != elliptic.P384() {
			return prob(probBadPublicKey, http.StatusBadRequest, "ECDSA curve %s is not accepted", pub.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	default:
		return prob(probBadPublicKey, http.StatusBadRequest, "key type %T is not accepted", k.Key)
	}
	return nil
}

// algFitsKey refuses an alg that does not belong to the key's type.
func algFitsKey(alg string, k *jose.JSONWebKey) error {
	ok := false
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		ok = alg == "RS256"
	case *ecdsa.PublicKey:
		ok = alg == "ES256" && pub.Curve == elliptic.P256() || alg == "ES384" && pub.Curve == elliptic.P384()
	case ed25519.PublicKey:
		ok = alg == "EdDSA"
	}
	if !ok {
		p := prob(probBadSignatureAlg, http.StatusBadRequest, "JWS algorithm %s does not fit the key", alg)
		p.Algorithms = allowedAlgs
		return p
	}
	return nil
}

// thumbprint is the RFC 7638 SHA-256 thumbprint, base64url.
func thumbprint(k *jose.JSONWebKey) (string, error) {
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", errs.Wrap(errs.Internal, err, "key thumbprint")
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// decodePayload reads a JSON payload. Unknown fields are ignored, as RFC
// 8555 section 7.3 lets clients send fields the server does not know.
func decodePayload(req *request, v any) error {
	if req.postAsGet {
		return malformed("this request needs a payload; a POST-as-GET is not enough")
	}
	dec := json.NewDecoder(bytes.NewReader(req.payload))
	if err := dec.Decode(v); err != nil {
		return malformed("payload is not valid JSON of the expected shape: %v", err)
	}
	return nil
}
