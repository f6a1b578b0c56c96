package acme

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/coretest"
	"github.com/certgw/gateway/test/teststore"
)

// fixture is an ACME server over a real issuance core (software signer)
// and a real store, behind an httptest TLS server.
type fixture struct {
	t     testing.TB
	srv   *Server
	ts    *httptest.Server
	store storage.Store
	core  *ca.Core
	roots *x509.CertPool
	dir   string // directory URL
	base  string
	clock *coretest.Clock
}

func testProfile() config.Profile {
	yes := true
	return config.Profile{
		Name: "default", CA: "issuing", Methods: []string{"acme", "api"},
		Names:       config.Names{DNS: []string{"*"}, Wildcards: true, IPRanges: []string{"127.0.0.0/8", "192.0.2.0/24"}, CommonName: "allow", CommonNameInSAN: &yes, Max: 10},
		KeyTypes:    []string{"ecdsa-p256", "ecdsa-p384", "rsa-2048"},
		MaxValidity: config.Duration(90 * 24 * time.Hour), DefaultValidity: config.Duration(30 * 24 * time.Hour),
	}
}

func newFixture(t testing.TB, st storage.Store, val config.ACMEValidation, set Settings) *fixture {
	t.Helper()
	return newFixtureWith(t, st, val, set, testProfile())
}

// newFixtureWith is newFixture with these profiles ("default" among them)
// and "noacme".
func newFixtureWith(t testing.TB, st storage.Store, val config.ACMEValidation, set Settings, profiles ...config.Profile) *fixture {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	f := &fixture{t: t, store: st, clock: coretest.NewClock(time.Now().Truncate(time.Second))}
	other := testProfile()
	other.Name, other.Methods = "noacme", []string{"api"}
	env := coretest.New(t, st, coretest.Options{Profiles: append(profiles, other), Now: f.clock.Now, Log: log})
	cas := env.CAs
	f.core = env.Core
	f.roots = x509.NewCertPool()
	f.roots.AddCert(cas["root"].Cert())
	f.srv = New(Config{Store: st.(Store), CA: f.core, Profiles: env.Profiles, Validation: val, Settings: set, Log: log, Now: f.clock.Now})
	r := chi.NewRouter()
	f.srv.Routes(r)
	f.ts = httptest.NewTLSServer(r)
	t.Cleanup(f.ts.Close)
	f.base = f.ts.URL + "/acme/default"
	f.dir = f.base + "/directory"
	return f
}

// --- a hand-made JWS client, so that tests can build every bad JWS ---

type testKey struct {
	signer crypto.Signer
	alg    string
}

func (k testKey) jwk() json.RawMessage {
	b, err := (&jose.JSONWebKey{Key: k.signer.Public()}).MarshalJSON()
	if err != nil {
		panic(err)
	}
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// sign makes the signature of input with key under alg.
func sign(t testing.TB, key crypto.Signer, alg string, input []byte) []byte {
	t.Helper()
	switch alg {
	case "ES256", "ES384":
		h := sha256.Sum256(input)
		digest, size := h[:], 32
		if alg == "ES384" {
			h := sha512.Sum384(input)
			digest, size = h[:], 48
		}
		ek := key.(*ecdsa.PrivateKey)
		r, s, err := ecdsa.Sign(rand.Reader, ek, digest)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out
	case "RS256":
		h := sha256.Sum256(input)
		sig, err := rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, h[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	case "EdDSA":
		return ed25519.Sign(key.(ed25519.PrivateKey), input)
	}
	return nil
}

// jws builds a flattened JWS with the given protected header.
func (f *fixture) jws(k testKey, hdr map[string]any, payload []byte) []byte {
	f.t.Helper()
	hb, _ := json.Marshal(hdr)
	prot, pl := b64(hb), b64(payload)
	alg, _ := hdr["alg"].(string)
	var sig []byte
	switch alg {
	case "HS256":
		m := hmac.New(sha256.New, []byte("secret"))
		m.Write([]byte(prot + "." + pl))
		sig = m.Sum(nil)
	case "none":
	default:
		sig = sign(f.t, k.signer, k.alg, []byte(prot+"."+pl))
	}
	body, _ := json.Marshal(map[string]string{"protected": prot, "payload": pl, "signature": b64(sig)})
	return body
}

func (f *fixture) nonce() string {
	f.t.Helper()
	resp, err := f.ts.Client().Head(f.base + "/new-nonce")
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	n := resp.Header.Get("Replay-Nonce")
	if n == "" {
		f.t.Fatal("newNonce gave no Replay-Nonce")
	}
	return n
}

type result struct {
	status int
	header http.Header
	body   []byte
	prob   Problem
}

func (f *fixture) postRaw(url, contentType string, body []byte) result {
	f.t.Helper()
	resp, err := f.ts.Client().Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, header: resp.Header, body: b}
	if resp.Header.Get("Content-Type") == "application/problem+json" {
		json.Unmarshal(b, &r.prob)
	}
	return r
}

// post signs payload (nil: POST-as-GET) with the account key (kid) or the
// embedded key (kid == "").
func (f *fixture) post(url string, k testKey, kid string, payload any) result {
	f.t.Helper()
	hdr := map[string]any{"alg": k.alg, "nonce": f.nonce(), "url": url}
	if kid != "" {
		hdr["kid"] = kid
	} else {
		hdr["jwk"] = k.jwk()
	}
	var pl []byte
	if payload != nil {
		pl, _ = json.Marshal(payload)
	}
	return f.postRaw(url, "application/jose+json", f.jws(k, hdr, pl))
}

func newECKey(t testing.TB) testKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{k, "ES256"}
}

// newAccount registers a key and returns its account URL.
func (f *fixture) newAccount(k testKey) string {
	f.t.Helper()
	r := f.post(f.base+"/new-account", k, "", map[string]any{"termsOfServiceAgreed": true, "contact": []string{"mailto:a@example.org"}})
	if r.status != http.StatusCreated && r.status != http.StatusOK {
		f.t.Fatalf("newAccount: %d %s", r.status, r.body)
	}
	return r.header.Get("Location")
}

func startServer(t *testing.T, h http.Handler) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

func openSQLite(t *testing.T) storage.Store { return teststore.SQLite(t) }

func jsonUnmarshal(b []byte, v any) { json.Unmarshal(b, v) }
