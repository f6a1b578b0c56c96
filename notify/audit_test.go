package notify

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// collector is a SIEM's HTTP input: it keeps the events of each post it
// takes, and answers codes in turn (200 once they run out).
type collector struct {
	mu     sync.Mutex
	ids    []int64
	posts  int
	codes  []int
	badSig bool
	secret []byte
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.posts++
	if r.Header.Get("Content-Type") != "application/x-ndjson" || r.Header.Get(SignatureHeader) != Sign(c.secret, b) {
		c.badSig = true
	}
	if len(c.codes) > 0 {
		code := c.codes[0]
		c.codes = c.codes[1:]
		if code != 200 {
			w.WriteHeader(code)
			return
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line auditLine
		if err := json.Unmarshal(sc.Bytes(), &line); err == nil {
			c.ids = append(c.ids, line.ID)
		}
	}
}

// The forwarder posts the audit trail in ID order, each event once, in
// batches, signed; a collector that fails gets the same events again at
// the next round, nothing skipped; two replicas go on from each other's
// position.
func TestAuditForwarder(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		ctx := t.Context()
		c := &collector{secret: []byte("siem-secret")}
		srv := httptest.NewServer(c)
		defer srv.Close()
		now := time.Now()
		forwarder := func() *AuditForwarder {
			return &AuditForwarder{Store: st, Webhook: &Webhook{URL: srv.URL, Secret: c.secret}, Batch: 3, Now: func() time.Time { return now }}
		}
		a, b := forwarder(), forwarder()
		var want []int64
		add := func(n int, at time.Time) {
			for range n {
				id, err := st.AppendAudit(ctx, storage.AuditEvent{At: at, Actor: "test", Action: "issue", Serial: "8a", DER: []byte{1, 2}})
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, id)
			}
		}
		add(7, now.Add(-time.Minute))
		add(1, now) // too young: waits for the next round
		if n, err := a.Forward(ctx); err != nil || n != 7 || c.posts != 3 {
			t.Fatalf("Forward() = %d, %v after %d posts; want 7 events in 3 posts", n, err, c.posts)
		}
		now = now.Add(time.Minute)
		c.codes = []int{503}
		if n, err := b.Forward(ctx); err == nil || n != 0 {
			t.Fatalf("Forward() while the collector fails = %d, %v", n, err)
		}
		add(2, now.Add(-time.Minute))
		if n, err := b.Forward(ctx); err != nil || n != 3 {
			t.Fatalf("Forward() on the other replica = %d, %v; want the 3 left", n, err)
		}
		if n, err := a.Forward(ctx); err != nil || n != 0 {
			t.Errorf("Forward() with nothing new = %d, %v", n, err)
		}
		if len(c.ids) != len(want) || c.badSig {
			t.Fatalf("collected %v (bad signature or type: %v), want %v", c.ids, c.badSig, want)
		}
		for i := range want {
			if c.ids[i] != want[i] {
				t.Fatalf("collected %v, want %v in order", c.ids, want)
			}
		}
		if id, err := st.AuditForwarded(ctx, "audit"); err != nil || id != want[len(want)-1] {
			t.Errorf("position %d, %v; want %d", id, err, want[len(want)-1])
		}
	})
}
