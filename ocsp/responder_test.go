package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	xocsp "golang.org/x/crypto/ocsp"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/postgres"
	"github.com/certgw/gateway/storage/sqlite"
	"github.com/certgw/gateway/storage/storagetest"
	"github.com/certgw/gateway/test/teststore"
)

// Both stores give the responder what it needs.
var (
	_ ResponderStore = (*sqlite.Store)(nil)
	_ ResponderStore = (*postgres.Store)(nil)
	_ StatusStore    = (*sqlite.Store)(nil)
	_ StatusStore    = (*postgres.Store)(nil)
)

// clock is an injected clock that tests move forward.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

type fixture struct {
	t     testing.TB
	st    storage.Store
	cas   map[string]*ca.Authority
	sg    countingSigner
	r     *Responder
	clock *clock
	url   string
}

// newFixture starts a responder over st (with a hierarchy made if cas is
// nil) behind an HTTP server.
func newFixture(t testing.TB, st storage.Store, cas map[string]*ca.Authority, sg countingSigner, cfg Config) *fixture {
	t.Helper()
	if cas == nil {
		cas, sg = testHierarchy(t, st)
	}
	f := &fixture{t: t, st: st, cas: cas, sg: sg, clock: &clock{}}
	rs := st.(interface {
		ResponderStore
		StatusStore
	})
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	r, err := New(cfg, Deps{Source: StoreSource{rs}, Store: rs, Signer: sg, Linter: gateLinter(t), Presign: ca.NewPresigner(),
		Log: slog.New(slog.DiscardHandler), Now: f.clock.now}, cas)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.r = r
	rt := chi.NewRouter()
	r.Routes(rt)
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// run starts the responder's loop until the test ends.
func (f *fixture) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.r.Run(ctx); close(done) }()
	f.t.Cleanup(func() { cancel(); <-done })
}

// leaf records an active certificate of the CA and returns a certificate
// with its serial (all a request needs).
func (f *fixture) leaf(caName string) *x509.Certificate {
	f.t.Helper()
	serial, _ := ca.NewSerial(randReader{})
	now := time.Now()
	c := storage.Certificate{Serial: ca.SerialHex(serial), CA: caName, Profile: "p", Method: "api", Requester: "test",
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour), CreatedAt: now}
	ctx := f.t.Context()
	if err := f.st.InsertPendingCertificate(ctx, c); err != nil {
		f.t.Fatal(err)
	}
	if err := f.st.ActivateCertificate(ctx, c.Serial, []byte{0x30, 0}, c.NotBefore, c.NotAfter); err != nil {
		f.t.Fatal(err)
	}
	return &x509.Certificate{SerialNumber: serial}
}

type randReader struct{}

func (randReader) Read(b []byte) (int, error) { return rand.Read(b) }

func (f *fixture) do(req *http.Request) (*http.Response, []byte) {
	f.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// get sends der by GET, base64 and URL-encoded (RFC 6960 A.1).
func (f *fixture) get(caName string, der []byte, hdr ...string) (*http.Response, []byte) {
	f.t.Helper()
	req, _ := http.NewRequest("GET", f.url+"/ocsp/"+caName+"/"+url.PathEscape(base64.StdEncoding.EncodeToString(der)), nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return f.do(req)
}

func (f *fixture) post(caName string, body []byte) (*http.Response, []byte) {
	f.t.Helper()
	req, _ := http.NewRequest("POST", f.url+"/ocsp/"+caName, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/ocsp-request")
	return f.do(req)
}

// check parses a response for leaf and verifies it with x/crypto/ocsp
// against the issuing CA (through the responder certificate it carries).
func (f *fixture) check(body []byte, leaf *x509.Certificate, caName string, want int) *xocsp.Response {
	f.t.Helper()
	resp, err := xocsp.ParseResponseForCert(body, leaf, f.cas[caName].Cert())
	if err != nil {
		f.t.Fatalf("response does not verify: %v (%x)", err, body)
	}
	if resp.Status != want {
		f.t.Fatalf("status %d, want %d", resp.Status, want)
	}
	return resp
}

func TestResponder(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, nil, countingSigner{}, Config{})
		ctx := t.Context()
		issuing := f.cas["issuing"].Cert()

		// A delegated responder was made for each CA, in the token, and
		// recorded like any certificate.
		for _, name := range []string{"root", "issuing"} {
			rec, err := st.(ResponderStore).LatestOCSPResponder(ctx, name)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			cert, _ := x509.ParseCertificate(rec.CertDER)
			if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageOCSPSigning || cert.IsCA ||
				cert.KeyUsage != x509.KeyUsageDigitalSignature || !hasExt(cert, "1.3.6.1.5.5.7.48.1.5") {
				t.Errorf("%s responder: EKU %v, CA %v, KU %v, nocheck %v", name, cert.ExtKeyUsage, cert.IsCA, cert.KeyUsage, hasExt(cert, "1.3.6.1.5.5.7.48.1.5"))
			}
			if d := cert.NotAfter.Sub(cert.NotBefore); d > DefaultResponderValidity+2*time.Minute {
				t.Errorf("%s responder valid for %v", name, d)
			}
			if !strings.Contains(rec.KeyURI, "ocsp-"+name+"-") {
				t.Errorf("%s responder key %s", name, rec.KeyURI)
			}
			if err := cert.CheckSignatureFrom(f.cas[name].Cert()); err != nil {
				t.Error(err)
			}
			got, err := st.GetCertificate(ctx, ca.SerialHex(cert.SerialNumber))
			if err != nil || got.Status != storage.StatusActive || got.Profile != "ocsp-responder" {
				t.Errorf("%s responder certificate in the inventory: %+v, %v", name, got.Status, err)
			}
		}

		// good, by GET and by POST, verified against the CA.
		leaf := f.leaf("issuing")
		req := request(t, issuing, leaf.SerialNumber, crypto.SHA1)
		resp, body := f.get("issuing", req)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/ocsp-response" {
			t.Fatalf("GET: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		r := f.check(body, leaf, "issuing", xocsp.Good)
		if r.Certificate == nil || r.Certificate.Subject.CommonName != "Issuing OCSP Responder" {
			t.Errorf("responder certificate %v", r.Certificate)
		}
		if d := r.NextUpdate.Sub(r.ThisUpdate); d != DefaultResponseValidity || !r.ProducedAt.Equal(r.ThisUpdate) {
			t.Errorf("thisUpdate %v, nextUpdate %v, producedAt %v", r.ThisUpdate, r.NextUpdate, r.ProducedAt)
		}
		// Caching headers (RFC 5019 6.2).
		age, _ := strconv.Atoi(strings.TrimPrefix(resp.Header.Get("Cache-Control"), "public, no-transform, must-revalidate, max-age="))
		if age <= 0 || f.clock.now().Add(time.Duration(age)*time.Second).After(r.NextUpdate) {
			t.Errorf("Cache-Control %q past nextUpdate %v", resp.Header.Get("Cache-Control"), r.NextUpdate)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" || resp.Header.Get("Last-Modified") != r.ThisUpdate.Format(http.TimeFormat) || resp.Header.Get("Expires") != r.NextUpdate.Format(http.TimeFormat) {
			t.Errorf("ETag %q, Last-Modified %q, Expires %q", etag, resp.Header.Get("Last-Modified"), resp.Header.Get("Expires"))
		}
		// The second request is answered from the cache: same bytes, no
		// signature.
		signed := f.sg.n.Load()
		_, again := f.get("issuing", req)
		_, posted := f.post("issuing", req)
		if !bytes.Equal(again, body) || !bytes.Equal(posted, body) || f.sg.n.Load() != signed {
			t.Errorf("cached: same GET %v, same POST %v, signatures %d", bytes.Equal(again, body), bytes.Equal(posted, body), f.sg.n.Load()-signed)
		}
		if resp, b := f.get("issuing", req, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified || len(b) != 0 {
			t.Errorf("If-None-Match: %d", resp.StatusCode)
		}
		if resp, _ := f.get("issuing", req, "If-Modified-Since", resp.Header.Get("Last-Modified")); resp.StatusCode != http.StatusNotModified {
			t.Errorf("If-Modified-Since: %d", resp.StatusCode)
		}
		// SHA-256 CertIDs are answered too, with a matching CertID.
		_, body = f.get("issuing", request(t, issuing, leaf.SerialNumber, crypto.SHA256))
		f.check(body, leaf, "issuing", xocsp.Good)

		// revoked, with time and reason, at once after OnRevoke.
		revokedAt := time.Now().Add(-time.Minute).Truncate(time.Second)
		if err := st.RevokeCertificate(ctx, ca.SerialHex(leaf.SerialNumber), 1, revokedAt, storagetest.Event("revoke", ca.SerialHex(leaf.SerialNumber))); err != nil {
			t.Fatal(err)
		}
		f.r.OnRevoke(ctx, "issuing", ca.SerialHex(leaf.SerialNumber))
		_, body = f.get("issuing", req)
		r = f.check(body, leaf, "issuing", xocsp.Revoked)
		if r.RevocationReason != xocsp.KeyCompromise || !r.RevokedAt.Equal(revokedAt) {
			t.Errorf("revoked at %v for %d, want %v for keyCompromise", r.RevokedAt, r.RevocationReason, revokedAt)
		}

		// unknown: a serial nobody issued, and another CA's certificate
		// asked with this CA's hashes.
		stranger := &x509.Certificate{SerialNumber: big.NewInt(0x1234567)}
		_, body = f.get("issuing", request(t, issuing, stranger.SerialNumber, crypto.SHA1))
		f.check(body, stranger, "issuing", xocsp.Unknown)
		rootLeaf := f.leaf("root")
		_, body = f.get("issuing", request(t, issuing, rootLeaf.SerialNumber, crypto.SHA1))
		f.check(body, rootLeaf, "issuing", xocsp.Unknown)
		// The issuing CA's own certificate is good at the root's responder.
		_, body = f.get("root", request(t, f.cas["root"].Cert(), issuing.SerialNumber, crypto.SHA1))
		f.check(body, issuing, "root", xocsp.Good)

		// unauthorized: another CA's hashes, or no such CA.
		for _, path := range []string{"issuing", "nope"} {
			_, body = f.get(path, request(t, f.cas["root"].Cert(), leaf.SerialNumber, crypto.SHA1))
			if !bytes.Equal(body, errorResponse(Unauthorized)) {
				t.Errorf("%s: %x, want unauthorized", path, body)
			}
		}
		if _, err := xocsp.ParseResponse(errorResponse(Unauthorized), nil); err != (xocsp.ResponseError{Status: xocsp.Unauthorized}) ||
			!bytes.Equal(errorResponse(Unauthorized), xocsp.UnauthorizedErrorResponse) {
			t.Errorf("x/crypto reads our unauthorized as %v", err)
		}
	})
}

func hasExt(c *x509.Certificate, oid string) bool {
	for _, e := range c.Extensions {
		if e.Id.String() == oid {
			return true
		}
	}
	return false
}

// A nonce is echoed in responseExtensions, the response is signed for the
// request and not cached.
func TestResponderNonce(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t), nil, countingSigner{}, Config{})
	leaf := f.leaf("issuing")
	nonce := []byte("0123456789abcdef")
	req := request(t, f.cas["issuing"].Cert(), leaf.SerialNumber, crypto.SHA1, nonceExt(nonce))
	resp, body := f.post("issuing", req)
	f.check(body, leaf, "issuing", xocsp.Good)
	if got := responseNonce(t, body); !bytes.Equal(got, append([]byte{4, 16}, nonce...)) {
		t.Errorf("nonce extension value %x", got)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("ETag") != "" {
		t.Errorf("a nonce response with Cache-Control %q, ETag %q", resp.Header.Get("Cache-Control"), resp.Header.Get("ETag"))
	}
	_, second := f.post("issuing", request(t, f.cas["issuing"].Cert(), leaf.SerialNumber, crypto.SHA1, nonceExt([]byte("another nonce!!!"))))
	if got := responseNonce(t, second); !bytes.Contains(got, []byte("another nonce!!!")) {
		t.Errorf("second nonce %x", got)
	}
	// Without a free signing slot, a nonce request gets the cached
	// response (no nonce) rather than waiting.
	f.get("issuing", request(t, f.cas["issuing"].Cert(), leaf.SerialNumber, crypto.SHA1))
	for range cap(f.r.slots) {
		f.r.slots <- struct{}{}
	}
	_, body = f.post("issuing", req)
	f.check(body, leaf, "issuing", xocsp.Good)
	if responseNonce(t, body) != nil {
		t.Error("busy: the cached response carries a nonce")
	}
	// And a miss while busy is tryLater after SignWait.
	f.r.cfg.SignWait = 50 * time.Millisecond
	other := f.leaf("issuing")
	_, body = f.get("issuing", request(t, f.cas["issuing"].Cert(), other.SerialNumber, crypto.SHA1))
	if !bytes.Equal(body, errorResponse(TryLater)) {
		t.Errorf("busy miss: %x, want tryLater", body)
	}
}

// responseNonce digs the nonce extension out of responseExtensions.
func responseNonce(t *testing.T, der []byte) []byte {
	t.Helper()
	var resp struct {
		Status asn1.Enumerated
		Bytes  struct {
			Type  asn1.ObjectIdentifier
			Basic []byte
		} `asn1:"explicit,tag:0"`
	}
	if _, err := asn1.Unmarshal(der, &resp); err != nil {
		t.Fatal(err)
	}
	var basic struct {
		TBS struct {
			ResponderID asn1.RawValue
			Produced    time.Time `asn1:"generalized"`
			Responses   asn1.RawValue
			Exts        []struct {
				ID    asn1.ObjectIdentifier
				Value []byte
			} `asn1:"explicit,tag:1,optional"`
		}
	}
	if _, err := asn1.Unmarshal(resp.Bytes.Basic, &basic); err != nil {
		t.Fatal(err)
	}
	for _, e := range basic.TBS.Exts {
		if e.ID.String() == "1.3.6.1.5.5.7.48.1.2" {
			return e.Value
		}
	}
	return nil
}

// Whatever arrives, the answer is an OCSP response; nothing crashes.
func TestResponderMalformed(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t), nil, countingSigner{}, Config{})
	valid := request(t, f.cas["issuing"].Cert(), big.NewInt(5), crypto.SHA1)
	malformedResp := errorResponse(MalformedRequest)
	for name, body := range map[string][]byte{
		"garbage":   []byte("hello"),
		"empty":     nil,
		"truncated": valid[:len(valid)-3],
		"huge":      bytes.Repeat(valid, 200<<10/len(valid)),
	} {
		if _, got := f.post("issuing", body); !bytes.Equal(got, malformedResp) {
			t.Errorf("POST %s: %x", name, got)
		}
	}
	// Go's server answers 400 itself to a request line with a broken
	// escape; the handler never sees it.
	for name, path := range map[string]string{"not base64": "%%%", "bad escape": "%zz"} {
		if resp, got := f.do(rawGET(t, f.url, "/ocsp/issuing/"+path)); resp.StatusCode != http.StatusBadRequest && !bytes.Equal(got, malformedResp) {
			t.Errorf("GET %s: %d %x", name, resp.StatusCode, got)
		}
	}
	for name, path := range map[string]string{
		"bad base64":   "%25%25",
		"garbage":      base64.StdEncoding.EncodeToString([]byte("hello")),
		"truncated":    base64.StdEncoding.EncodeToString(valid[:20]),
		"nothing":      "",
		"huge":         strings.Repeat("A", 100000),
		"double slash": "/" + base64.StdEncoding.EncodeToString(valid),
	} {
		if _, got := f.do(rawGET(t, f.url, "/ocsp/issuing/"+path)); !bytes.Equal(got, malformedResp) {
			t.Errorf("GET %s: %x", name, got)
		}
	}
	if resp, got := f.do(mustRequest(t, "GET", f.url+"/ocsp/issuing")); resp.StatusCode != 200 || !bytes.Equal(got, malformedResp) {
		t.Errorf("GET without a request: %d %x", resp.StatusCode, got)
	}
	if resp, _ := f.do(mustRequest(t, "PUT", f.url+"/ocsp/issuing")); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d", resp.StatusCode)
	}
	// Every encoding clients use for GET is understood: raw '/' and '+',
	// no padding, the URL alphabet.
	b64 := base64.StdEncoding.EncodeToString(valid)
	for name, path := range map[string]string{
		"unescaped":    b64,
		"no padding":   base64.RawStdEncoding.EncodeToString(valid),
		"url alphabet": base64.URLEncoding.EncodeToString(valid),
		"escaped":      url.QueryEscape(b64),
	} {
		if _, got := f.do(rawGET(t, f.url, "/ocsp/issuing/"+path)); bytes.Equal(got, malformedResp) || len(got) < 100 {
			t.Errorf("GET %s: %x", name, got)
		}
	}
}

// rawGET sends path exactly as given, broken escapes included.
func rawGET(t *testing.T, base, path string) *http.Request {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Opaque = "//" + u.Host + path
	return &http.Request{Method: "GET", URL: u, Host: u.Host, Header: http.Header{}}
}

func mustRequest(t *testing.T, method, u string) *http.Request {
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// A revocation made by another replica reaches this one's cache through
// the store within a few poll intervals.
func TestResponderReplicas(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		a := newFixture(t, st, nil, countingSigner{}, Config{})
		b := newFixture(t, st, a.cas, a.sg, Config{})
		a.run()
		b.run()
		// Both use the same responder: the second found the first's.
		if a.r.cas["issuing"].key.Load().uri != b.r.cas["issuing"].key.Load().uri {
			t.Error("replicas use different responders")
		}
		leaf := a.leaf("issuing")
		req := request(t, a.cas["issuing"].Cert(), leaf.SerialNumber, crypto.SHA1)
		_, body := b.get("issuing", req)
		b.check(body, leaf, "issuing", xocsp.Good)
		// Revoked through a (as Core does), b only sees the store.
		if err := st.RevokeCertificate(t.Context(), ca.SerialHex(leaf.SerialNumber), 4, time.Now(), storagetest.Event("revoke", ca.SerialHex(leaf.SerialNumber))); err != nil {
			t.Fatal(err)
		}
		a.r.OnRevoke(t.Context(), "issuing", ca.SerialHex(leaf.SerialNumber))
		waitStatus(t, b, req, leaf, xocsp.Revoked, xocsp.Superseded)
		// The revocation was pre-signed: the replica's cache already holds
		// the revoked response.
		if e := b.r.cas["issuing"].lookup(0, []byte(serialKey(ca.SerialHex(leaf.SerialNumber))), time.Now()); e == nil || e.kind != Revoked {
			t.Errorf("not pre-signed on the replica: %v", e)
		}
	})
}

// The responder key is rotated before its certificate expires, and every
// response verifies throughout: the ones signed before the rotation with
// the old certificate, the ones after with the new.
func TestResponderRotation(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, nil, countingSigner{}, Config{})
		ctx := t.Context()
		c := f.r.cas["issuing"]
		first := c.key.Load()
		leaf := f.leaf("issuing")
		req := request(t, f.cas["issuing"].Cert(), leaf.SerialNumber, crypto.SHA1)
		_, before := f.get("issuing", req)
		old := f.check(before, leaf, "issuing", xocsp.Good)

		// Nothing to do yet.
		f.r.maintain(ctx, c)
		if c.key.Load() != first {
			t.Fatal("rotated too early")
		}
		// Into the rotation window: a new key, a new certificate.
		f.clock.advance(DefaultResponderValidity - DefaultRotateBefore + time.Minute)
		f.r.maintain(ctx, c)
		second := c.key.Load()
		if second == first || second.uri == first.uri || !second.cert.NotAfter.After(first.cert.NotAfter) {
			t.Fatalf("not rotated: %s until %v", second.uri, second.cert.NotAfter)
		}
		// The cached response, which nobody asked for during its validity,
		// was dropped; it verified and ended within the old certificate's
		// lifetime. The next request is signed by the new key.
		if !old.NextUpdate.Before(first.cert.NotAfter) {
			t.Errorf("a response outlives its responder: %v > %v", old.NextUpdate, first.cert.NotAfter)
		}
		_, after := f.get("issuing", req)
		r := f.check(after, leaf, "issuing", xocsp.Good)
		if r.Certificate == nil || !r.Certificate.Equal(second.cert) || !r.ThisUpdate.After(old.ThisUpdate) {
			t.Errorf("after rotation the response is signed by %v", r.Certificate.SerialNumber)
		}
		// A replica starting now uses the new responder.
		g := newFixture(t, st, f.cas, f.sg, Config{})
		if g.r.cas["issuing"].key.Load().uri != second.uri {
			t.Error("a new replica does not use the latest responder")
		}
		// Past the first certificate's end, responses still verify and
		// end before the responder that signed them.
		f.clock.advance(DefaultRotateBefore)
		_, late := f.get("issuing", request(t, f.cas["issuing"].Cert(), f.leaf("issuing").SerialNumber, crypto.SHA256))
		lr, err := xocsp.ParseResponse(late, f.cas["issuing"].Cert())
		if err != nil || lr.Status != xocsp.Good || lr.NextUpdate.After(lr.Certificate.NotAfter) {
			t.Fatalf("late response: %v, %+v", err, lr)
		}
	})
}

// Once a rotated-out responder's certificate has expired, its key is
// destroyed in the signer and its record deleted, while the current
// responder goes on signing. A record whose key is already gone (a crash
// between the two steps, or another replica) is deleted the next time, and
// a signer that cannot destroy a key stops nothing.
func TestResponderDestroysExpiredKeys(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, nil, countingSigner{}, Config{})
		ctx := t.Context()
		rs := st.(ResponderStore)
		c := f.r.cas["issuing"]
		first := c.key.Load()
		f.clock.advance(DefaultResponderValidity - DefaultRotateBefore + time.Minute)
		f.r.maintain(ctx, c)
		second := c.key.Load()
		if second.uri == first.uri {
			t.Fatal("not rotated")
		}
		// Rotated out but not expired: the old key stays.
		if _, err := f.sg.Key(ctx, first.uri); err != nil {
			t.Fatalf("the old key is gone before its certificate expired: %v", err)
		}

		// Past the old certificate's end, within the grace replicas' clocks
		// get: the key stays.
		f.clock.advance(DefaultRotateBefore)
		f.r.maintain(ctx, c)
		if _, err := f.sg.Key(ctx, first.uri); err != nil {
			t.Fatalf("the old key is gone a minute after its certificate expired: %v", err)
		}
		// Past the grace: its key goes, then its record.
		f.clock.advance(destroyGrace)
		f.r.maintain(ctx, c)
		if _, err := f.sg.Key(ctx, first.uri); !errs.Is(err, errs.NotFound) {
			t.Fatalf("Key(old responder) after expiry: %v, want not found", err)
		}
		if left := expiredURIs(t, rs, "issuing", f.clock.now().Add(10*DefaultResponderValidity)); !slices.Equal(left, []string{second.uri}) {
			t.Errorf("responders left: %v, want only the current %s", left, second.uri)
		}
		if c.key.Load() != second {
			t.Error("the current responder changed")
		}
		leaf := f.leaf("issuing")
		_, body := f.get("issuing", request(t, f.cas["issuing"].Cert(), leaf.SerialNumber, crypto.SHA256))
		if r := f.check(body, leaf, "issuing", xocsp.Good); r.Certificate == nil || !r.Certificate.Equal(second.cert) {
			t.Errorf("after the cleanup the response is not signed by the current responder")
		}

		// Past the second's end too (the third is current now): a signer
		// that cannot destroy keeps the record, and the responder serves.
		f.clock.advance(DefaultResponderValidity - 2*DefaultRotateBefore + time.Minute)
		f.r.maintain(ctx, c)
		third := c.key.Load()
		if third.uri == second.uri {
			t.Fatal("not rotated a second time")
		}
		f.clock.advance(DefaultRotateBefore)
		f.r.d.Signer = noDestroy{f.sg}
		f.r.maintain(ctx, c)
		if left := expiredURIs(t, rs, "issuing", f.clock.now()); !slices.Equal(left, []string{second.uri}) {
			t.Errorf("records after a failed destroy: %v, want %s kept", left, second.uri)
		}
		if c.key.Load() != third {
			t.Error("a failed destroy changed the current responder")
		}
		_, body = f.get("issuing", request(t, f.cas["issuing"].Cert(), f.leaf("issuing").SerialNumber, crypto.SHA256))
		if _, err := xocsp.ParseResponse(body, f.cas["issuing"].Cert()); err != nil {
			t.Errorf("no valid response while a key cannot be destroyed: %v", err)
		}
		// The key goes by other means (a crash after the signer destroyed
		// it, another replica): the next run deletes the record.
		if err := f.sg.Destroy(ctx, second.uri); err != nil {
			t.Fatal(err)
		}
		f.r.d.Signer = f.sg
		f.r.maintain(ctx, c)
		if left := expiredURIs(t, rs, "issuing", f.clock.now()); len(left) != 0 {
			t.Errorf("records of expired responders left: %v", left)
		}
		if _, err := f.sg.Key(ctx, third.uri); err != nil {
			t.Errorf("the current responder's key: %v", err)
		}
	})
}

// noDestroy is a signer that cannot destroy keys.
type noDestroy struct{ signer.Signer }

func (noDestroy) Destroy(context.Context, string) error {
	return errs.New(errs.Unavailable, "no member is up")
}

// expiredURIs lists the key URIs of the CA's responders that expired
// before before.
func expiredURIs(t *testing.T, rs ResponderStore, caName string, before time.Time) []string {
	t.Helper()
	recs, err := rs.ExpiredOCSPResponders(t.Context(), caName, before)
	if err != nil {
		t.Fatal(err)
	}
	var uris []string
	for _, r := range recs {
		uris = append(uris, r.KeyURI)
	}
	return uris
}

// A CA configured to sign its own responses: no delegated responder, no
// certificate in the response, verified against the CA directly.
func TestResponderCAKey(t *testing.T) {
	st := teststore.SQLite(t)
	f := newFixture(t, st, nil, countingSigner{}, Config{SignWithCAKey: []string{"issuing"}})
	if _, err := st.(ResponderStore).LatestOCSPResponder(t.Context(), "issuing"); err == nil {
		t.Error("a delegated responder for a CA that signs itself")
	}
	leaf := f.leaf("issuing")
	_, body := f.get("issuing", request(t, f.cas["issuing"].Cert(), leaf.SerialNumber, crypto.SHA1))
	r := f.check(body, leaf, "issuing", xocsp.Good)
	if r.Certificate != nil {
		t.Error("a certificate in a response the CA signed")
	}
	want, _ := ca.SubjectKeyID(f.cas["issuing"].Key.Public())
	if !bytes.Equal(r.ResponderKeyHash, want) {
		t.Errorf("responder key hash %x, want the CA's %x", r.ResponderKeyHash, want)
	}
}

// The delegated responder certificate passes the zlint registry, CA/B
// Forum lints included, but for the one of two contradicting SKI lints the
// gateway always leaves out (see ca.DefaultExcludedLints; BR 7.1.2.8 makes
// the SKI of a responder certificate NOT RECOMMENDED, like a subscriber's).
func TestResponderCertificateLints(t *testing.T) {
	st := teststore.SQLite(t)
	f := newFixture(t, st, nil, countingSigner{}, Config{})
	full, err := ca.NewLinter(nil, ca.DefaultExcludedLints())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"root", "issuing"} {
		if err := full.LintCertificate(f.r.cas[name].key.Load().cert.Raw); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).WithDefaults().Validate(); err != nil {
		t.Fatal(err)
	}
	err := Config{ResponseValidity: time.Second, RotateBefore: 30 * 24 * time.Hour, MaxAge: -1, MaxRequestSize: 1 << 20}.WithDefaults().Validate()
	for _, want := range []string{"ocsp.response_validity", "ocsp.rotate_before", "ocsp.max_age", "ocsp.max_request_size"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
	if _, err := New(Config{SignWithCAKey: []string{"nope"}}, Deps{}, nil); err == nil {
		t.Error("sign_with_ca_key naming no CA accepted")
	}
}

// A certificate's response is signed when it is issued (OnIssue), so the
// first client gets it from the cache without a signature of its own.
func TestResponderPresignsOnIssue(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t), nil, countingSigner{}, Config{})
	f.run()
	leaf := f.leaf("issuing")
	before := f.sg.n.Load()
	f.r.OnIssue(t.Context(), "issuing", ca.SerialHex(leaf.SerialNumber))
	deadline := time.Now().Add(10 * time.Second)
	for f.sg.n.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("no response was signed after OnIssue")
		}
		time.Sleep(10 * time.Millisecond)
	}
	signed := f.sg.n.Load()
	_, body := f.get("issuing", request(t, f.cas["issuing"].Cert(), leaf.SerialNumber, crypto.SHA1))
	f.check(body, leaf, "issuing", xocsp.Good)
	if n := f.sg.n.Load() - signed; n != 0 {
		t.Fatalf("the first request signed %d more responses; the pre-signed one should have served it", n)
	}
}

// A replica that fell behind a pruned revocation log finds out and drops
// its cached responses: a certificate revoked while it was behind, whose
// event is gone, is answered revoked, and the events after it are
// followed again one by one.
func TestResponderFallsBehindPrunedLog(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		ctx := t.Context()
		// The loops do not run: the test moves each replica itself.
		a := newFixture(t, st, nil, countingSigner{}, Config{KeepRevocationEvents: 2})
		b := newFixture(t, st, a.cas, a.sg, Config{})
		ac, bc := a.r.cas["issuing"], b.r.cas["issuing"]
		start := bc.seen

		leaf, other := a.leaf("issuing"), a.leaf("issuing")
		req := request(t, a.cas["issuing"].Cert(), leaf.SerialNumber, crypto.SHA1)
		otherReq := request(t, a.cas["issuing"].Cert(), other.SerialNumber, crypto.SHA1)
		_, body := b.get("issuing", req)
		b.check(body, leaf, "issuing", xocsp.Good)
		_, body = b.get("issuing", otherReq)
		b.check(body, other, "issuing", xocsp.Good)

		// leaf and three more are revoked elsewhere; a follows them and
		// prunes all but the last two events, leaf's among the pruned.
		revoke := func(serial *big.Int) {
			t.Helper()
			if err := st.RevokeCertificate(ctx, ca.SerialHex(serial), 1, time.Now(), storagetest.Event("revoke", ca.SerialHex(serial))); err != nil {
				t.Fatal(err)
			}
		}
		revoke(leaf.SerialNumber)
		for range 3 {
			revoke(a.leaf("issuing").SerialNumber)
		}
		if err := a.r.follow(ctx, ac); err != nil {
			t.Fatal(err)
		}
		a.r.maintain(ctx, ac)
		rs := st.(ResponderStore)
		events, err := rs.RevocationEvents(ctx, "issuing", start, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 2 || events[0].Generation != start+3 {
			t.Fatalf("events after pruning = %+v, want the last two (from generation %d)", events, start+3)
		}

		// Behind, b still serves its cached good response...
		_, body = b.get("issuing", req)
		b.check(body, leaf, "issuing", xocsp.Good)
		// ...until it follows: the log starts past what it saw.
		if err := b.r.follow(ctx, bc); err != nil {
			t.Fatal(err)
		}
		if bc.seen != start+4 {
			t.Errorf("seen %d after the resync, want %d", bc.seen, start+4)
		}
		_, body = b.get("issuing", req)
		b.check(body, leaf, "issuing", xocsp.Revoked)
		_, body = b.get("issuing", otherReq)
		b.check(body, other, "issuing", xocsp.Good)

		// From there b follows events again: other's revocation is
		// pre-signed into its cache.
		revoke(other.SerialNumber)
		if err := b.r.follow(ctx, bc); err != nil {
			t.Fatal(err)
		}
		if e := bc.lookup(0, []byte(serialKey(ca.SerialHex(other.SerialNumber))), time.Now()); e == nil || e.kind != Revoked {
			t.Errorf("the next revocation is not followed by its event: %v", e)
		}
	})
}

// A certificate put on hold and released answers good again, on the
// replica that released it and on one that only sees the store.
func TestResponderFollowsAReleasedHold(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		a := newFixture(t, st, nil, countingSigner{}, Config{})
		b := newFixture(t, st, a.cas, a.sg, Config{})
		a.run()
		b.run()
		leaf := a.leaf("issuing")
		serial := ca.SerialHex(leaf.SerialNumber)
		req := request(t, a.cas["issuing"].Cert(), leaf.SerialNumber, crypto.SHA1)
		for _, f := range []*fixture{a, b} {
			waitStatus(t, f, req, leaf, xocsp.Good, 0)
		}
		if err := st.RevokeCertificate(t.Context(), serial, 6, time.Now(), storagetest.Event("revoke", serial)); err != nil {
			t.Fatal(err)
		}
		a.r.OnRevoke(t.Context(), "issuing", serial)
		for _, f := range []*fixture{a, b} {
			waitStatus(t, f, req, leaf, xocsp.Revoked, xocsp.CertificateHold)
		}
		if err := st.ReleaseHold(t.Context(), serial, storagetest.Event("release-hold", serial)); err != nil {
			t.Fatal(err)
		}
		a.r.OnRevoke(t.Context(), "issuing", serial)
		for _, f := range []*fixture{a, b} {
			waitStatus(t, f, req, leaf, xocsp.Good, 0)
		}
	})
}

// waitStatus asks f about leaf (of the issuing CA) until the answer has
// status want (and, for Revoked, reason), for at most 5 seconds.
func waitStatus(t *testing.T, f *fixture, req []byte, leaf *x509.Certificate, want, reason int) {
	t.Helper()
	start := time.Now()
	for {
		_, body := f.get("issuing", req)
		r, err := xocsp.ParseResponseForCert(body, leaf, f.cas["issuing"].Cert())
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == want {
			if want == xocsp.Revoked && r.RevocationReason != reason {
				t.Errorf("reason %d, want %d", r.RevocationReason, reason)
			}
			return
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("status %d after 5s, want %d", r.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
