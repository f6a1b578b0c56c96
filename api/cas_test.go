package api_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/storage"
)

type caEntry struct {
	Name, Parent, Serial, Subject, Certificate string
	ServingSerial                              string `json:"serving_serial"`
	DaysLeft                                   int    `json:"days_left"`
}

type casPage struct {
	CAs []caEntry `json:"cas"`
}

// byName finds a CA in the list.
func (p casPage) byName(name string) caEntry {
	for _, c := range p.CAs {
		if c.Name == name {
			return c
		}
	}
	return caEntry{}
}

// GET /api/v1/cas lists the CAs with their certificates and days left, and
// names the certificate a gateway still serves after a renewal in the store.
func TestListCAs(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		if r := e.do("GET", "/api/v1/cas", "", nil); r.status != http.StatusUnauthorized {
			t.Fatalf("without a token: %d", r.status)
		}
		var p casPage
		e.do("GET", "/api/v1/cas", reader, nil).decode(t, http.StatusOK, &p)
		if len(p.CAs) != 2 || p.byName("root").Parent != "" || p.byName("issuing").Parent != "root" {
			t.Fatalf("GET /cas: %+v", p)
		}
		issuing := e.core.CAs["issuing"].Cert()
		got := p.byName("issuing")
		if certs := parseCerts(t, got.Certificate); got.Serial != ca.SerialHex(issuing.SerialNumber) || len(certs) != 1 || !issuing.Equal(certs[0]) ||
			got.DaysLeft < 5*365-1 || got.DaysLeft > 5*365 || got.ServingSerial != "" || got.Subject != issuing.Subject.String() {
			t.Errorf("issuing: %+v", got)
		}

		// Another certificate in the store (as `gateway ca renew` leaves
		// it): this gateway still signs under the one it loaded.
		root := e.core.CAs["root"].Cert()
		if err := e.store.ReplaceCACertificate(context.Background(), "issuing", issuing.Raw, root.Raw, nil, storage.AuditEvent{At: e.t0, Actor: "test", Action: "renew-ca"}); err != nil {
			t.Fatal(err)
		}
		e.do("GET", "/api/v1/cas", reader, nil).decode(t, http.StatusOK, &p)
		if got := p.byName("issuing"); got.Serial != ca.SerialHex(root.SerialNumber) || got.ServingSerial != ca.SerialHex(issuing.SerialNumber) {
			t.Errorf("after a renewal in the store: %+v", got)
		}
	})
}

// POST /api/v1/cas/NAME/renew renews a CA for its key and this gateway
// serves the new certificate at once: the list shows nothing pending,
// new certificates come with the renewed chain, and the audit trail names
// the token. Refusals change nothing.
func TestRenewCA(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		oldRoot, oldIssuing := e.core.CAs["root"].Cert(), e.core.CAs["issuing"].Cert()
		e.do("POST", "/api/v1/cas/nope/renew", admin, nil).problem(t, http.StatusNotFound, "notFound", "nope")
		e.do("POST", "/api/v1/cas/root/renew", admin, map[string]any{"validity": "soon"}).problem(t, http.StatusBadRequest, "malformed", "validity")
		e.do("POST", "/api/v1/cas/root/renew", admin, map[string]any{"valid": "1d"}).problem(t, http.StatusBadRequest, "malformed", "valid")
		e.do("POST", "/api/v1/cas/issuing/renew", admin, map[string]any{"validity": "1d"}).
			problem(t, http.StatusConflict, "conflict", "no later than its current certificate")
		e.clock.Advance(24 * time.Hour)
		for name, want := range map[string]*x509.Certificate{"root": oldRoot, "issuing": oldIssuing} {
			if rec, err := e.store.GetCA(ctx, name); err != nil || !bytes.Equal(rec.CertDER, want.Raw) || !e.core.CAs[name].Cert().Equal(want) {
				t.Fatalf("a refused renewal changed CA %s (%v)", name, err)
			}
		}

		var got struct {
			caEntry
			Replaces string `json:"replaces"`
		}
		e.do("POST", "/api/v1/cas/root/renew", admin, map[string]any{"validity": "7400d"}).decode(t, http.StatusOK, &got)
		root := e.core.CAs["root"].Cert()
		if root.Equal(oldRoot) || got.Serial != ca.SerialHex(root.SerialNumber) || got.Replaces != ca.SerialHex(oldRoot.SerialNumber) ||
			got.ServingSerial != "" || got.DaysLeft != 7400 || got.Parent != "" {
			t.Fatalf("renewed root: %+v; serving %s", got, ca.SerialHex(root.SerialNumber))
		}
		e.do("POST", "/api/v1/cas/issuing/renew", admin, map[string]any{}).decode(t, http.StatusOK, &got)
		issuing := e.core.CAs["issuing"].Cert()
		if issuing.Equal(oldIssuing) || got.Serial != ca.SerialHex(issuing.SerialNumber) || got.Parent != "root" || got.DaysLeft != 5*365 {
			t.Fatalf("renewed issuing CA: %+v", got)
		}
		var p casPage
		e.do("GET", "/api/v1/cas", reader, nil).decode(t, http.StatusOK, &p)
		if p.byName("root").ServingSerial != "" || p.byName("issuing").ServingSerial != "" {
			t.Errorf("GET /cas after renewing through the API: %+v", p)
		}
		chain := parseCerts(t, e.issueCSR("web", "after.example.com").Chain)
		if len(chain) != 2 || !chain[0].Equal(issuing) || !chain[1].Equal(root) {
			t.Error("a certificate issued after the renewal does not come with the renewed chain")
		}
		events, err := e.store.ListAudit(ctx, storage.AuditFilter{Serial: got.Serial})
		if err != nil || len(events) != 1 || events[0].Action != "renew-ca" || events[0].Actor != admin {
			t.Errorf("audit of the renewal: %+v, %v", events, err)
		}
	})
}

// POST /api/v1/cas/NAME/revoke revokes a subordinate CA: its certificate
// is in the inventory, revoked, under the root; GET /cas says so; this
// gateway issues nothing under it from then on. A root is refused, and so
// is a second revocation.
func TestRevokeCA(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		issuing := e.core.CAs["issuing"].Cert()
		e.do("POST", "/api/v1/cas/root/revoke", admin, nil).problem(t, http.StatusConflict, "conflict", "is a root")
		e.do("POST", "/api/v1/cas/issuing/revoke", admin, map[string]string{"reason": "compromised"}).problem(t, http.StatusBadRequest, "malformed", "compromised")
		e.do("POST", "/api/v1/cas/nope/revoke", admin, nil).problem(t, http.StatusNotFound, "notFound", "nope")
		e.issueCSR("web", "before.example.com")

		var got struct {
			CA, Parent, Reason string
			Serials            []string
		}
		e.do("POST", "/api/v1/cas/issuing/revoke", admin, map[string]string{"reason": "keyCompromise"}).decode(t, http.StatusOK, &got)
		serial := ca.SerialHex(issuing.SerialNumber)
		if got.CA != "issuing" || got.Parent != "root" || got.Reason != "keyCompromise" || len(got.Serials) != 1 || got.Serials[0] != serial {
			t.Fatalf("revoke issuing: %+v", got)
		}
		if c := e.get(serial); c.Status != "revoked" || c.Profile != "ca:issuing" || c.CA != "root" {
			t.Errorf("the issuing CA's certificate in the inventory: %+v", c)
		}
		e.do("POST", "/api/v1/cas/issuing/revoke", admin, nil).problem(t, http.StatusConflict, "conflict", "already revoked")
		var p struct {
			CAs []struct {
				Name             string     `json:"name"`
				RevokedAt        *time.Time `json:"revoked_at"`
				RevocationReason string     `json:"revocation_reason"`
			} `json:"cas"`
		}
		e.do("GET", "/api/v1/cas", reader, nil).decode(t, http.StatusOK, &p)
		for _, c := range p.CAs {
			if revoked := c.RevokedAt != nil && c.RevocationReason == "keyCompromise"; revoked != (c.Name == "issuing") {
				t.Errorf("GET /cas after revoking issuing: %s %+v", c.Name, c)
			}
		}
		e.do("POST", "/api/v1/profiles/web/certificates", issuer, map[string]any{"csr": csrPEM(t, newP256(t), "", []string{"after.example.com"}, nil)}).
			problem(t, http.StatusServiceUnavailable, "unavailable", "CA issuing was revoked")
	})
}
