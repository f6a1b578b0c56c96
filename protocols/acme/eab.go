package acme

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// External Account Binding (RFC 8555 section 7.3.4): the newAccount payload
// carries a JWS, MACed with a key handed out of band, whose payload is the
// account key. A key creates one account (the store binds it in the same
// transaction that creates the account).

// checkEAB verifies the binding and returns its key ID, or "" if there is
// none and the profile does not require one.
func (s *Server) checkEAB(ctx context.Context, req *request, raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		if s.set.RequireEAB[req.profile] {
			return "", prob(probExternalAccountReq, http.StatusUnauthorized, "this directory requires external account binding")
		}
		return "", nil
	}
	jws, err := jose.ParseSignedJSON(string(raw), []jose.SignatureAlgorithm{jose.HS256, jose.HS384, jose.HS512})
	if err != nil || len(jws.Signatures) != 1 {
		return "", malformed("externalAccountBinding is not a flattened JWS with a MAC algorithm (HS256, HS384, HS512)")
	}
	h := jws.Signatures[0].Protected
	if h.Nonce != "" {
		return "", malformed("externalAccountBinding must not carry a nonce")
	}
	if u, _ := h.ExtraHeaders["url"].(string); u != requestURL(req.r) {
		return "", malformed("externalAccountBinding url does not match the newAccount URL")
	}
	if h.KeyID == "" {
		return "", malformed("externalAccountBinding has no kid")
	}
	k, err := s.store.GetACMEEABKey(ctx, h.KeyID)
	if errs.Is(err, errs.NotFound) || err == nil && (k.Profile != req.profile || k.AccountID != "") {
		return "", unauthorized("external account binding key %q is unknown or already used", h.KeyID)
	}
	if err != nil {
		return "", err
	}
	payload, err := jws.Verify(k.HMACKey)
	if err != nil {
		return "", unauthorized("externalAccountBinding MAC does not verify")
	}
	var inner jose.JSONWebKey
	if err := inner.UnmarshalJSON(payload); err != nil {
		return "", malformed("externalAccountBinding payload is not a JWK")
	}
	a, err1 := thumbprint(&inner)
	b, err2 := thumbprint(req.jwk)
	if err1 != nil || err2 != nil || a != b {
		return "", malformed("externalAccountBinding payload is not the account key")
	}
	return h.KeyID, nil
}

// EABKeyStore is what CreateEABKey needs of the store: the command line
// (gateway acme eab create) and the REST API (POST
// /api/v1/profiles/{profile}/acme/eab) both create keys through it.
type EABKeyStore interface {
	InsertACMEEABKey(ctx context.Context, k storage.ACMEEABKey, audit storage.AuditEvent) error
}

// CreateEABKey makes a new single-use EAB key for a profile, audits it as
// created by actor, and returns its ID and the MAC key, base64url (the form
// certbot and lego take). names, if set, are the only identifiers the
// account it creates may order (ca.ParseNameScope: DNS names, .suffixes,
// IP ranges). The caller checks that the profile allows acme.
//
// Neither starts with "-": certbot's argument parser takes such a value of
// --eab-kid or --eab-hmac-key for an option and refuses the command (one
// key in 64 would), so they are drawn again, at the cost of a fiftieth
// of a bit.
func CreateEABKey(ctx context.Context, st EABKeyStore, profile string, names []string, actor string, now time.Time) (kid, hmacKey string, err error) {
	if _, err := ca.ParseNameScope(names); err != nil {
		return "", "", err
	}
	key := make([]byte, 32)
	for {
		rand.Read(key)
		if hmacKey = base64.RawURLEncoding.EncodeToString(key); hmacKey[0] != '-' {
			break
		}
	}
	for kid = randomID(); kid[0] == '-'; kid = randomID() {
	}
	k := storage.ACMEEABKey{KeyID: kid, Profile: profile, HMACKey: key, CreatedAt: now, Names: names}
	detail := "EAB key " + k.KeyID
	if len(names) > 0 {
		detail += ", names " + strings.Join(names, ",")
	}
	// The audit names the key ID, never the MAC key.
	if err := st.InsertACMEEABKey(ctx, k, storage.AuditEvent{
		At: now, Actor: actor, Action: "acme-eab-create", Profile: profile, Detail: detail,
	}); err != nil {
		return "", "", err
	}
	return kid, hmacKey, nil
}
