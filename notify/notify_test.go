package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgw/gateway/storage"
)

type receiver struct {
	mu         sync.Mutex
	bodies     [][]byte
	sigs       []string
	deliveries []string
	codes      []int // answered in turn; 200 once they run out
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.bodies = append(rc.bodies, b)
	rc.sigs = append(rc.sigs, r.Header.Get(SignatureHeader))
	rc.deliveries = append(rc.deliveries, r.Header.Get(DeliveryHeader))
	code := 200
	if len(rc.codes) > 0 {
		code, rc.codes = rc.codes[0], rc.codes[1:]
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		code = http.StatusTeapot
	}
	w.WriteHeader(code)
}

// only decodes the one post rc received.
func (rc *receiver) only(t *testing.T) Event {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bodies) != 1 {
		t.Fatalf("%d posts, want 1", len(rc.bodies))
	}
	var ev Event
	if err := json.Unmarshal(rc.bodies[0], &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func request() storage.Request {
	return storage.Request{ID: "0123abcd", Profile: "routers", Method: "est", Requester: "basic:router",
		Names: []string{"r1.example.com"}, CreatedAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func TestHeld(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	secret := []byte("shared secret")
	w := &Webhook{URL: srv.URL, Secret: secret}
	w.Held(request())
	w.Wait()
	ev := rc.only(t)
	if ev.Event != "request.pending" || ev.Request.ID != "0123abcd" || ev.Request.Profile != "routers" ||
		ev.Request.Names[0] != "r1.example.com" || !ev.Request.CreatedAt.Equal(request().CreatedAt) {
		t.Errorf("event %+v", ev)
	}
	for _, want := range []string{"0123abcd", "r1.example.com", "routers", "basic:router", "gateway request approve -id 0123abcd"} {
		if !strings.Contains(ev.Text, want) {
			t.Errorf("text %q lacks %q", ev.Text, want)
		}
	}
	if rc.sigs[0] != Sign(secret, rc.bodies[0]) || !strings.HasPrefix(rc.sigs[0], "sha256=") || len(rc.sigs[0]) != 7+64 {
		t.Errorf("signature %q", rc.sigs[0])
	}
	if Sign([]byte("other"), rc.bodies[0]) == rc.sigs[0] {
		t.Error("the signature does not depend on the secret")
	}
}

func TestRetries(t *testing.T) {
	for _, tt := range []struct {
		name      string
		codes     []int
		posts     int
		delivered bool
	}{
		{"5xx then ok", []int{503, 500}, 3, true},
		{"4xx is final", []int{404}, 1, false},
		{"5xx throughout", []int{500, 502, 503}, 3, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rc := &receiver{codes: tt.codes}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			var logs bytes.Buffer
			var observed []string
			w := &Webhook{URL: srv.URL, Backoff: time.Millisecond, Log: slog.New(slog.NewTextHandler(&logs, nil)),
				Observe: func(event string, err error) { observed = append(observed, fmt.Sprint(event, " ", err == nil)) }}
			w.Held(request())
			w.Wait()
			if want := fmt.Sprint("request.pending ", tt.delivered); len(observed) != 1 || observed[0] != want {
				t.Errorf("observed %q, want [%s]", observed, want)
			}
			if len(rc.bodies) != tt.posts {
				t.Errorf("%d posts, want %d", len(rc.bodies), tt.posts)
			}
			if rc.sigs[0] != "" {
				t.Errorf("an unsigned webhook sent %q", rc.sigs[0])
			}
			if got := strings.Contains(logs.String(), "notification delivered"); got != tt.delivered {
				t.Errorf("delivered %v, want %v; log:\n%s", got, tt.delivered, logs.String())
			}
		})
	}
	// Nobody listening: three attempts, then the error in the log.
	var logs bytes.Buffer
	w := &Webhook{URL: "http://127.0.0.1:1/hook", Backoff: time.Millisecond, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	w.Held(request())
	w.Wait()
	if !strings.Contains(logs.String(), "not delivered") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// The outcome of a held request goes to the same webhook: issued with its
// serial, failed or rejected with the reason, and who decided.
func TestDecided(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	w := &Webhook{URL: srv.URL}
	at := time.Date(2030, 1, 3, 0, 0, 0, 0, time.UTC)
	decided := func(status, serial, reason string) storage.Request {
		r := request()
		r.Status, r.DecidedBy, r.DecidedAt, r.Serial, r.Reason = status, "operator", at, serial, reason
		return r
	}
	w.Decided(decided(storage.RequestIssued, "0a0b", ""))
	w.Decided(decided(storage.RequestFailed, "", "CA issuing cannot issue"))
	w.Decided(decided(storage.RequestRejected, "", "unknown device"))
	w.Decided(decided(storage.RequestExpired, "", "not decided within 7d"))
	w.Decided(decided(storage.RequestPending, "", "")) // not an outcome: nothing posted
	w.Wait()
	if len(rc.bodies) != 4 {
		t.Fatalf("%d posts, want 4", len(rc.bodies))
	}
	want := map[string][]string{
		"request.issued":   {"approved by operator and issued: serial 0a0b", "r1.example.com", "routers"},
		"request.failed":   {"approved by operator, but its issuance failed: CA issuing cannot issue"},
		"request.rejected": {"rejected by operator: unknown device"},
		"request.expired":  {"expired: not decided within 7d", "makes a new request"},
	}
	for _, b := range rc.bodies {
		var ev Event
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		words, ok := want[ev.Event]
		if !ok {
			t.Errorf("unexpected event %q", ev.Event)
			continue
		}
		delete(want, ev.Event)
		for _, w := range words {
			if !strings.Contains(ev.Text, w) {
				t.Errorf("%s: text %q lacks %q", ev.Event, ev.Text, w)
			}
		}
		if r := ev.Request; r.ID != "0123abcd" || r.DecidedBy != "operator" || r.DecidedAt == nil || !r.DecidedAt.Equal(at) || "request."+r.Status != ev.Event {
			t.Errorf("%s: request %+v", ev.Event, r)
		}
	}
}

func TestApproval(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	w := &Webhook{URL: srv.URL}
	r := request()
	r.Status = storage.RequestPending
	r.Approvals = []storage.Approval{{By: "alice", At: time.Date(2030, 1, 2, 4, 0, 0, 0, time.UTC)}}
	w.Approval(r, 3)
	w.Wait()
	ev := rc.only(t)
	if ev.Event != "request.approval" || ev.Request.Status != "pending" || len(ev.Request.Approvals) != 1 || ev.Request.Approvals[0] != "alice" {
		t.Errorf("event %+v", ev)
	}
	for _, want := range []string{"approved by alice (1 of 3)", "waits for 2 more", "gateway request approve -id 0123abcd"} {
		if !strings.Contains(ev.Text, want) {
			t.Errorf("text %q lacks %q", ev.Text, want)
		}
	}
}

func TestCertificate(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	w := &Webhook{URL: srv.URL, Secret: []byte("k")}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := Certificate{Serial: "0a1b", Profile: "web", CA: "issuing", Method: "api", Requester: "gateway renewal",
		SANs: []string{"app.example.com"}, NotBefore: at, NotAfter: at.Add(90 * 24 * time.Hour), Replaces: "09ff"}
	w.Certificate("renewed", c, at)
	w.Certificate("unknown", c, at) // not told
	w.Wait()
	rc.mu.Lock()
	n := len(rc.bodies)
	rc.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d posts, want 1", n)
	}
	var ev CertificateEvent
	if err := json.Unmarshal(rc.bodies[0], &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Event != "certificate.renewed" || ev.Certificate.Serial != "0a1b" || ev.Certificate.Replaces != "09ff" || !ev.At.Equal(at) ||
		rc.sigs[0] != Sign([]byte("k"), rc.bodies[0]) {
		t.Errorf("event %+v", ev)
	}
	for _, want := range []string{"Certificate 0a1b for app.example.com (profile web) renews 09ff", "/api/v1/profiles/web/latest"} {
		if !strings.Contains(ev.Text, want) {
			t.Errorf("text %q lacks %q", ev.Text, want)
		}
	}
}

func TestCertificateExpiring(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	w := &Webhook{URL: srv.URL}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	w.Certificate("expiring", Certificate{Serial: "0c", Profile: "devices", SANs: []string{"d.example.com"}, NotAfter: at.Add(10*24*time.Hour + time.Hour)}, at)
	w.Wait()
	var ev CertificateEvent
	rc.mu.Lock()
	err := json.Unmarshal(rc.bodies[0], &ev)
	rc.mu.Unlock()
	if err != nil || ev.Event != "certificate.expiring" || !strings.Contains(ev.Text, "Certificate 0c for d.example.com (profile devices) expires at 2030-01-12T04:04:05Z (in 10 days) and nothing renewed it") {
		t.Fatalf("event %+v, %v", ev, err)
	}
}

// A webhook that does not answer holds at most MaxInFlight posts; the
// rest are dropped, logged and observed as failed.
func TestMaxInFlight(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	var mu sync.Mutex
	failed := 0
	w := &Webhook{URL: srv.URL, MaxInFlight: 2, Observe: func(_ string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed++
		}
	}}
	for range 5 {
		w.Held(request())
	}
	mu.Lock()
	dropped := failed
	mu.Unlock()
	close(release)
	w.Wait()
	if dropped != 3 {
		t.Fatalf("%d dropped, want 3", dropped)
	}
}
