package upstream

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-acme/lego/v4/acme"
	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// What the CA answers becomes an error kind the protocols can map; its
// own words stay in the message.
func TestRefusal(t *testing.T) {
	c := &Client{cfg: Config{Name: "le"}}
	for typ, want := range map[string]errs.Kind{
		"rejectedIdentifier": errs.RejectedIdentifier,
		"caa":                errs.RejectedIdentifier,
		"unauthorized":       errs.Forbidden,
		"connection":         errs.Forbidden,
		"rateLimited":        errs.Unavailable,
		"badNonce":           errs.Internal,
	} {
		prob := &acme.ProblemDetails{Type: "urn:ietf:params:acme:error:" + typ, Detail: "detail of " + typ, HTTPStatus: 403}
		// lego joins per-name errors; the problem is found inside.
		err := c.refusal(errors.Join(fmt.Errorf("www.example.com: %w", prob)), "issue")
		if !errs.Is(err, want) {
			t.Errorf("%s: kind of %v, want %v", typ, err, want)
		}
		var e *errs.Error
		if errors.As(err, &e) && !(strings.Contains(e.Error(), "upstream le") && strings.Contains(e.Error(), "detail of "+typ)) {
			t.Errorf("%s: message %q", typ, e.Error())
		}
	}
	if err := c.refusal(errors.New("dial tcp: connection refused"), "issue"); !errs.Is(err, errs.Unavailable) {
		t.Errorf("an unreachable CA: %v", err)
	}
}

// Every replica answers the external CA's http-01 request from the store,
// until the token expires or lego cleans it up.
func TestHTTP01(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		now := time.Now()
		p := &http01Provider{ctx: context.Background(), store: st, expires: now.Add(time.Minute), now: func() time.Time { return now }}
		r := chi.NewRouter()
		(&Handler{Store: st, Now: func() time.Time { return now }}).Routes(r)
		get := func(token string) (int, string) {
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest("GET", "/.well-known/acme-challenge/"+token, nil))
			b, _ := io.ReadAll(w.Result().Body)
			return w.Code, string(b)
		}
		if err := p.Present("www.example.com", "tok1", "tok1.thumb"); err != nil {
			t.Fatal(err)
		}
		if code, body := get("tok1"); code != 200 || body != "tok1.thumb" {
			t.Fatalf("GET token: %d %q", code, body)
		}
		if code, _ := get("other"); code != http.StatusNotFound {
			t.Fatalf("GET unknown token: %d", code)
		}
		if err := p.CleanUp("www.example.com", "tok1", "tok1.thumb"); err != nil {
			t.Fatal(err)
		}
		if code, _ := get("tok1"); code != http.StatusNotFound {
			t.Fatalf("GET token after clean-up: %d", code)
		}
	})
}

// The account is read from the store, sealed; a CA that cannot be reached
// is errs.Unavailable, not a new registration.
func TestStoredAccount(t *testing.T) {
	st := teststore.SQLite(t)
	kek := make([]byte, 32)
	rand.Read(kek)
	s, err := ca.NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Name: "le", DirectoryURL: "https://127.0.0.1:1/dir", Timeout: 5 * time.Second}, st, s, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	sealed, err := s.Seal(c.sealID(), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.InsertUpstreamAccount(ctx, storage.UpstreamAccount{Upstream: "le", Directory: "https://127.0.0.1:1/dir", URL: "https://127.0.0.1:1/acct/1", KeyPEM: sealed, CreatedAt: time.Now()},
		storage.AuditEvent{At: time.Now(), Actor: "test", Action: "upstream-account"}); err != nil {
		t.Fatal(err)
	}
	a, err := c.ensureAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !a.key.Public().(*ecdsa.PublicKey).Equal(&key.PublicKey) || a.reg.URI != "https://127.0.0.1:1/acct/1" {
		t.Fatalf("account %+v", a)
	}
	// Sealed for another upstream, the key does not open.
	other, _ := New(Config{Name: "zz", DirectoryURL: "https://127.0.0.1:1/dir", Timeout: time.Second}, st, s, slog.New(slog.DiscardHandler), time.Now)
	if _, err := other.sealer.Open(other.sealID(), sealed); err == nil {
		t.Error("an account key opened under another upstream's name")
	}
	_, _, err = c.Obtain(ctx, &x509.CertificateRequest{}, nil)
	if !errs.Is(err, errs.Unavailable) {
		t.Fatalf("Obtain from an unreachable CA: %v", err)
	}
	if _, err := New(Config{Name: "x"}, st, nil, nil, time.Now); !errs.Is(err, errs.Config) {
		t.Errorf("New without a sealer: %v", err)
	}
}
