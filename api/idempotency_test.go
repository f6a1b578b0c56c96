package api_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/certgw/gateway/api"
	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// keyed sends body to path with the token tok and the Idempotency-Key key.
func (e *env) keyed(path, tok, key string, body any) response {
	e.t.Helper()
	h := http.Header{}
	h.Set("Authorization", e.bearer(tok))
	h.Set("Idempotency-Key", key)
	return e.doHeader("POST", path, h, body)
}

// inventorySize counts the certificates of profile in the inventory.
func (e *env) inventorySize(profile string) int {
	e.t.Helper()
	var l struct {
		Certificates []certificate `json:"certificates"`
	}
	e.do("GET", "/api/v1/certificates?profile="+profile, reader, nil).decode(e.t, http.StatusOK, &l)
	return len(l.Certificates)
}

// tokenID is the ID of the environment's token named name.
func (e *env) tokenID(name string) string {
	e.t.Helper()
	toks, err := e.store.ListTokens(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, tok := range toks {
		if tok.Name == name {
			return tok.ID
		}
	}
	e.t.Fatalf("no token %s", name)
	return ""
}

func TestIdempotencyKeyReplaysIssuance(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		path := "/api/v1/profiles/web/certificates"
		csr := map[string]any{"csr": csrPEM(t, newP256(t), "", []string{"a.example.com"}, nil)}

		// A CSR: the retry answers the first certificate, marked, and the
		// inventory holds one.
		first := e.keyed(path, issuer, "job-1", csr)
		var a, b issued
		first.decode(t, http.StatusCreated, &a)
		if first.header.Get("Idempotent-Replayed") != "" {
			t.Errorf("first answer marked replayed")
		}
		e.clock.Advance(time.Minute)
		again := e.keyed(path, issuer, `"job-1"`, csr) // the draft's quoted form names the same key
		again.decode(t, http.StatusCreated, &b)
		if b != a || again.header.Get("Idempotent-Replayed") != "true" || again.header.Get("Location") != "/api/v1/certificates/"+a.Serial {
			t.Fatalf("replay %+v (%v), want %+v", b, again.header, a)
		}
		if n := e.inventorySize("web"); n != 1 {
			t.Fatalf("inventory holds %d certificates, want 1", n)
		}

		// The same key with another request: 422, nothing issued.
		other := map[string]any{"csr": csrPEM(t, newP256(t), "", []string{"b.example.com"}, nil)}
		e.keyed(path, issuer, "job-1", other).problem(t, http.StatusUnprocessableEntity, "idempotencyKeyReused", `"job-1"`, "another request")
		e.keyed("/api/v1/profiles/device/certificates", issuer, "job-1", csr).problem(t, http.StatusUnprocessableEntity, "idempotencyKeyReused")
		// Another token's key of the same name is its own.
		e.tokens["issuer2"] = e.token(t, "issue")
		var c issued
		e.keyed(path, "issuer2", "job-1", csr).decode(t, http.StatusCreated, &c)
		if c.Serial == a.Serial {
			t.Fatal("two tokens' keys met")
		}
		// Without a key, every request issues.
		e.issue("web", csr)
		if n := e.inventorySize("web"); n != 3 {
			t.Fatalf("inventory holds %d certificates, want 3", n)
		}

		// A refused request gives its key back: the corrected retry issues.
		bad := map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"a.example.org"}}
		e.keyed(path, issuer, "job-2", bad).problem(t, http.StatusBadRequest, "rejectedIdentifier")
		var d issued
		e.keyed(path, issuer, "job-2", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"d.example.com"}}).decode(t, http.StatusCreated, &d)

		// A key the gateway generated comes again, its export audited;
		// as PKCS#12, under the body's password.
		var d2 issued
		e.keyed(path, issuer, "job-2", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"d.example.com"}}).decode(t, http.StatusCreated, &d2)
		if d2 != d || d.PrivateKey == "" {
			t.Fatalf("replay of a generated key: %+v, want %+v", d2, d)
		}
		var audit auditPage
		e.do("GET", "/api/v1/audit?serial="+d.Serial, admin, nil).decode(t, http.StatusOK, &audit)
		if len(audit.Events) != 2 || audit.Events[0].Action != "export-key" || audit.Events[0].Detail != "format=idempotent-replay" {
			t.Errorf("audit of the replay: %+v", audit.Events)
		}
		p12 := map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"p.example.com"}, "format": "pkcs12", "password": "pw"}
		var p, p2 issued
		e.keyed(path, issuer, "job-3", p12).decode(t, http.StatusCreated, &p)
		e.keyed(path, issuer, "job-3", p12).decode(t, http.StatusCreated, &p2)
		if p2.Serial != p.Serial || p2.PKCS12 == "" || p2.PrivateKey != "" {
			t.Fatalf("PKCS#12 replay: %+v", p2)
		}
		der, err := base64.StdEncoding.DecodeString(p2.PKCS12)
		if err != nil {
			t.Fatal(err)
		}
		if key, cert, _, err := pkcs12.DecodeChain(der, "pw"); err != nil || key == nil || ca.SerialHex(cert.SerialNumber) != p.Serial {
			t.Fatalf("the replayed PKCS#12: %v", err)
		}
	})
}

func TestIdempotencyKeyRenewal(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		old := e.issue("device", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"r.example.com"}})
		path := "/api/v1/certificates/" + old.Serial + "/renew"
		var a, b struct {
			issued
			Replaces string `json:"replaces"`
		}
		e.keyed(path, issuer, "renew-1", nil).decode(t, http.StatusCreated, &a)
		again := e.keyed(path, issuer, "renew-1", nil)
		again.decode(t, http.StatusCreated, &b)
		if b != a || a.Replaces != old.Serial || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("renewal replay %+v, want %+v", b, a)
		}
		// The serial spelled otherwise (capitals, colons) is the same request.
		var spelled strings.Builder
		for i, c := range strings.ToUpper(old.Serial) {
			if i > 0 && i%2 == 0 {
				spelled.WriteByte(':')
			}
			spelled.WriteRune(c)
		}
		other := e.keyed("/api/v1/certificates/"+spelled.String()+"/renew", issuer, "renew-1", nil)
		var c struct {
			issued
			Replaces string `json:"replaces"`
		}
		other.decode(t, http.StatusCreated, &c)
		if c != a || other.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("renewal replay with the serial spelled %s: %+v, want %+v", spelled.String(), c, a)
		}
		// Without the key, the renewed certificate refuses a second renewal.
		e.do("POST", path, issuer, nil).problem(t, http.StatusConflict, "conflict")
	})
}

func TestIdempotencyKeyUnderWay(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		path := "/api/v1/profiles/web/certificates"
		body := map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"w.example.com"}}
		var first issued
		e.keyed(path, issuer, "busy", body).decode(t, http.StatusCreated, &first)
		// Another replica's request holds the key "flight", for the same
		// request: the fingerprint is the method, route with its
		// parameters, and JSON body.
		j, _ := json.Marshal(body)
		fp := sha256.Sum256(append([]byte("POST /api/v1/profiles/{profile}/certificates profile=web\n"), j...))
		now := e.clock.Now().UTC().Truncate(time.Microsecond)
		claim := storage.IdempotencyKey{TokenID: e.tokenID(issuer), Key: "flight", Fingerprint: fp[:],
			ClaimedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
		if _, ok, err := e.store.ClaimIdempotencyKey(t.Context(), claim, now.Add(-time.Hour)); err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		resp := e.keyed(path, issuer, "flight", body)
		resp.problem(t, http.StatusConflict, "conflict", "under way")
		if resp.header.Get("Retry-After") == "" {
			t.Error("409 without Retry-After")
		}
		// Past the core's claim lease, the holder is taken for dead.
		e.clock.Advance(e.core.ClaimLease() + time.Second)
		var next issued
		e.keyed(path, issuer, "flight", body).decode(t, http.StatusCreated, &next)
		if next.Serial == first.Serial {
			t.Fatal("a new request answered another's certificate")
		}
		// A day later the key is forgotten: the same request issues again.
		e.clock.Advance(24 * time.Hour)
		var later issued
		e.keyed(path, issuer, "busy", body).decode(t, http.StatusCreated, &later)
		if later.Serial == first.Serial {
			t.Fatal("an expired key replayed")
		}
	})
}

func TestIdempotencyKeyMalformed(t *testing.T) {
	e := newEnv(t, teststore.SQLite(t))
	path := "/api/v1/profiles/web/certificates"
	body := map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"m.example.com"}}
	for _, tc := range []struct {
		name string
		keys []string
		want string
	}{
		{"empty", []string{""}, "1 to 255"},
		{"empty quoted", []string{`""`}, "1 to 255"},
		{"too long", []string{strings.Repeat("k", 256)}, "got 256"},
		{"not ASCII", []string{"cl\u00e9"}, "not printable ASCII"},
		{"quote inside", []string{`"a"b"`}, "quotes"},
		{"twice", []string{"a", "b"}, "given 2 times"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Authorization": {e.bearer(issuer)}, "Idempotency-Key": tc.keys}
			e.doHeader("POST", path, h, body).problem(t, http.StatusBadRequest, "malformed", "Idempotency-Key", tc.want)
		})
	}
	if n := e.inventorySize("web"); n != 0 {
		t.Fatalf("malformed keys issued %d certificates", n)
	}
}

// Retries racing with the same key issue one certificate: each answer is
// that certificate or a 409 while it is under way.
func TestIdempotencyKeyRace(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		path := "/api/v1/profiles/web/certificates"
		body := map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"race.example.com"}}
		answers := make([]response, 8)
		var wg sync.WaitGroup
		for i := range answers {
			wg.Go(func() { answers[i] = e.keyed(path, issuer, "race", body) })
		}
		wg.Wait()
		serials := map[string]bool{}
		for _, a := range answers {
			switch a.status {
			case http.StatusCreated:
				var c issued
				a.decode(t, http.StatusCreated, &c)
				serials[c.Serial] = true
			case http.StatusConflict:
				a.problem(t, http.StatusConflict, "conflict", "under way")
			default:
				t.Fatalf("answer %d: %s", a.status, a.body)
			}
		}
		if len(serials) != 1 || e.inventorySize("web") != 1 {
			t.Fatalf("racing retries issued %d certificates (%d answered)", e.inventorySize("web"), len(serials))
		}
	})
}

// An Idempotency-Key answered 202 (a request held for approval) keeps
// its request: a retry gets the request as it stands, 202 while it
// waits and its certificate once approved, both marked replayed, and
// never a second request; a rejected request's key answers the
// rejection.
func TestIdempotencyKeyHeldRequest(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.addToken("approver", []string{"approve", "read"})
		path := "/api/v1/profiles/held/certificates"
		body := map[string]any{"csr": csrPEM(t, newP256(t), "", []string{"held.example.com"}, nil)}
		var req, again api.Request
		e.keyed(path, issuer, "held-1", body).decode(t, http.StatusAccepted, &req)
		r := e.keyed(path, issuer, "held-1", body)
		r.decode(t, http.StatusAccepted, &again)
		if again.ID != req.ID || r.header.Get("Idempotent-Replayed") != "true" || r.header.Get("Location") != "/api/v1/requests/"+req.ID || r.header.Get("Retry-After") != "90" {
			t.Fatalf("retry while held: %+v %v, want request %s replayed", again, r.header, req.ID)
		}
		var decided api.Request
		e.do("POST", "/api/v1/requests/"+req.ID+"/approve", "approver", nil).decode(t, http.StatusOK, &decided)
		var got issued
		r = e.keyed(path, issuer, "held-1", body)
		r.decode(t, http.StatusOK, &got)
		if got.Serial != decided.Serial || r.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry after the approval: %+v %v, want certificate %s replayed", got, r.header, decided.Serial)
		}
		var list struct {
			Requests []api.Request `json:"requests"`
		}
		e.do("GET", "/api/v1/requests", reader, nil).decode(t, http.StatusOK, &list)
		if len(list.Requests) != 1 {
			t.Fatalf("%d requests, want 1", len(list.Requests))
		}
		// Another request with the key: 422 as ever.
		other := map[string]any{"csr": csrPEM(t, newP256(t), "", []string{"other.example.com"}, nil)}
		e.keyed(path, issuer, "held-1", other).problem(t, http.StatusUnprocessableEntity, "idempotencyKeyReused")

		e.keyed(path, issuer, "held-2", other).decode(t, http.StatusAccepted, &req)
		e.do("POST", "/api/v1/requests/"+req.ID+"/reject", "approver", map[string]string{"reason": "not ours"}).decode(t, http.StatusOK, &decided)
		e.keyed(path, issuer, "held-2", other).problem(t, http.StatusForbidden, "forbidden", "not ours")
	})
}
