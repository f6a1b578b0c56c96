package est

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// A profile that holds EST enrollments for approval answers 202 with
// Retry-After (RFC 7030 section 4.2.3) until an operator decides; the
// client's repeat of the same request then gets the certificate, or a
// refusal. Re-enrollment and serverkeygen are not held (the one renews an
// approved certificate, the other cannot wait).
func TestHeldEnrollment(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		set := Settings{Profiles: map[string]ProfileSettings{"held": {Auth: []string{AuthBasic, AuthClientCert}}}}
		f := newFixture(t, st, set, estProfile("held", func(p *config.Profile) {
			p.Approval = config.ProfileApproval{Methods: []string{"est"}, RetryAfter: config.Duration(2 * time.Minute)}
		}))
		f.addUser("held", "device", "secret")
		ctx := context.Background()
		plain := f.client(clientOpts{})
		key := newKey(t)
		csr := b64(csrDER(t, key, "router1.example.com", "router1.example.com"))
		enroll := func(body []byte) answer {
			return f.request(plain, "POST", "/.well-known/est/held/simpleenroll", body, "device", "secret")
		}

		got := enroll(csr)
		if got.status != http.StatusAccepted || got.header.Get("Retry-After") != "120" ||
			!strings.HasPrefix(got.header.Get("Content-Type"), "text/plain") || !strings.Contains(string(got.body), "approval") {
			t.Fatalf("held enrollment: %d Retry-After %q %q %s", got.status, got.header.Get("Retry-After"), got.header.Get("Content-Type"), got.body)
		}
		if n := f.countCerts(); n != 0 {
			t.Fatalf("%d certificates after a held enrollment", n)
		}
		// Unauthenticated repeats learn nothing.
		if got := f.request(plain, "POST", "/.well-known/est/held/simpleenroll", csr, "device", "wrong"); got.status != http.StatusUnauthorized {
			t.Fatalf("repeat with a wrong password: %d", got.status)
		}
		if got := enroll(csr); got.status != http.StatusAccepted {
			t.Fatalf("repeat while pending: %d %s", got.status, got.body)
		}
		reqs, err := st.ListRequests(ctx, storage.RequestFilter{Status: storage.RequestPending})
		if err != nil || len(reqs) != 1 || reqs[0].Requester != "basic:device" || reqs[0].Method != "est" {
			t.Fatalf("pending requests %+v %v", reqs, err)
		}

		// serverkeygen cannot wait.
		if got := f.request(plain, "POST", "/.well-known/est/held/serverkeygen", b64(csrDER(t, newKey(t), "", "k.example.com")), "device", "secret"); got.status != http.StatusForbidden {
			t.Fatalf("serverkeygen on a held profile: %d %s", got.status, got.body)
		}

		issued, err := f.core.Approve(ctx, reqs[0].ID, "operator")
		if err != nil {
			t.Fatal(err)
		}
		got = enroll(csr)
		if got.status != http.StatusOK {
			t.Fatalf("repeat after approval: %d %s", got.status, got.body)
		}
		cert := certsFrom(t, got.body)[0]
		if cert.SerialNumber.Cmp(issued.Cert.SerialNumber) != 0 || cert.Subject.CommonName != "router1.example.com" {
			t.Fatalf("repeat after approval got %s, want the approved certificate", cert.Subject)
		}

		// Re-enrollment with the approved certificate is not held.
		withCert := f.client(clientOpts{cert: tlsCert(cert, key)})
		re := f.request(withCert, "POST", "/.well-known/est/held/simplereenroll", csr, "", "")
		if re.status != http.StatusOK {
			t.Fatalf("re-enrollment on a held profile: %d %s", re.status, re.body)
		}

		// A rejected request: 403 with the operator's reason.
		other := b64(csrDER(t, newKey(t), "", "router2.example.com"))
		if got := enroll(other); got.status != http.StatusAccepted {
			t.Fatalf("second device: %d", got.status)
		}
		reqs, _ = st.ListRequests(ctx, storage.RequestFilter{Status: storage.RequestPending})
		if len(reqs) != 1 {
			t.Fatalf("pending requests %+v", reqs)
		}
		if _, err := f.core.Reject(ctx, reqs[0].ID, "operator", "not in the asset list"); err != nil {
			t.Fatal(err)
		}
		if got := enroll(other); got.status != http.StatusForbidden || !strings.Contains(string(got.body), "not in the asset list") {
			t.Fatalf("repeat of a rejected request: %d %s", got.status, got.body)
		}
	})
}
