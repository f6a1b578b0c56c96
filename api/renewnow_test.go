package api_test

import (
	"crypto/rsa"
	"encoding/base64"
	"net/http"
	"slices"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/certgw/gateway/ca"
)

// renewed is the answer of POST /certificates/SERIAL/renew.
type renewed struct {
	issued
	Replaces string `json:"replaces"`
}

// POST /certificates/SERIAL/renew issues a certificate's successor now,
// under its profile and for its names: a new key where the gateway holds
// the old one (PEM or PKCS#12), a CSR's key otherwise. The two are linked;
// the old one is revoked only if asked.
func TestRenewNow(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		renew := func(serial, tok string, body any) response {
			return e.do("POST", "/api/v1/certificates/"+serial+"/renew", tok, body)
		}

		// A held key: a new key of its type, for its names, auto-renewal
		// kept; the old certificate stays valid.
		old := e.issue("device", map[string]any{"key_type": "ecdsa-p256", "common_name": "d1.example.com",
			"dns_names": []string{"d1.example.com"}, "ip_addresses": []string{"10.1.2.3"}})
		e.clock.Advance(time.Hour)
		var n renewed
		r := renew(old.Serial, issuer, nil)
		r.decode(t, http.StatusCreated, &n)
		if loc := r.header.Get("Location"); loc != "/api/v1/certificates/"+n.Serial {
			t.Errorf("Location %q", loc)
		}
		cert, was := parseCerts(t, n.Certificate)[0], parseCerts(t, old.Certificate)[0]
		e.verify(cert, parseCerts(t, n.Chain))
		if n.Replaces != old.Serial || n.Serial == old.Serial || n.PrivateKey == "" || n.PrivateKey == old.PrivateKey {
			t.Fatalf("renewal %s replaces %q, new key %t", n.Serial, n.Replaces, n.PrivateKey != old.PrivateKey)
		}
		if key := parseKey(t, n.PrivateKey); !samePublic(key.Public(), cert) || ca.KeyTypeName(key.Public()) != "ecdsa-p256" {
			t.Error("the new key does not belong to the new certificate")
		}
		if cert.Subject.CommonName != was.Subject.CommonName || !slices.Equal(cert.DNSNames, was.DNSNames) ||
			len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(was.IPAddresses[0]) {
			t.Errorf("names %s %v %v, want %s %v %v", cert.Subject.CommonName, cert.DNSNames, cert.IPAddresses,
				was.Subject.CommonName, was.DNSNames, was.IPAddresses)
		}
		oc, nc := e.get(old.Serial), e.get(n.Serial)
		if oc.RenewedBy == nil || *oc.RenewedBy != n.Serial || nc.Replaces == nil || *nc.Replaces != old.Serial ||
			!nc.AutoRenew || !nc.KeyHeld || oc.Status != "active" {
			t.Errorf("old %+v, new %+v", oc, nc)
		}
		if b := e.latest("device"); b.Serial != n.Serial {
			t.Errorf("latest %s, want the renewal %s", b.Serial, n.Serial)
		}
		renew(old.Serial, issuer, nil).problem(t, http.StatusConflict, "conflict", "renewed already", n.Serial)

		// A key the gateway does not hold: a CSR for the new key, which
		// must keep the names; here the old certificate is revoked.
		own := e.issueCSR("web", "c.example.com")
		k := newP256(t)
		renew(own.Serial, issuer, nil).problem(t, http.StatusConflict, "conflict", "does not hold its key", "send a CSR")
		renew(own.Serial, issuer, map[string]any{"csr": csrPEM(t, k, "", []string{"other.example.com"}, nil)}).
			problem(t, http.StatusBadRequest, "badCSR", "keep the names", "other.example.com")
		renew(own.Serial, issuer, map[string]any{"csr": csrPEM(t, k, "", []string{"c.example.com"}, nil), "format": "pkcs12", "password": "x"}).
			problem(t, http.StatusBadRequest, "malformed", `"format"`)
		renew(own.Serial, issuer, map[string]any{"csr": "not PEM"}).problem(t, http.StatusBadRequest, "badCSR", `"csr"`)
		renew(own.Serial, issuer, map[string]any{"validity": "forever"}).problem(t, http.StatusBadRequest, "malformed", `"validity"`)
		if e.get(own.Serial).RenewedBy != nil {
			t.Fatal("a refused renewal linked a successor")
		}
		var c renewed
		renew(own.Serial, issuer, map[string]any{"csr": csrPEM(t, k, "", []string{"c.example.com"}, nil), "validity": "10d", "revoke": true}).
			decode(t, http.StatusCreated, &c)
		cc := parseCerts(t, c.Certificate)[0]
		if !samePublic(k.Public(), cc) || c.PrivateKey != "" || c.Replaces != own.Serial {
			t.Errorf("CSR renewal: key of the CSR %t, private key %q, replaces %q", samePublic(k.Public(), cc), c.PrivateKey, c.Replaces)
		}
		if got := cc.NotAfter.Sub(cc.NotBefore); got != 10*24*time.Hour+ca.Backdate {
			t.Errorf("lifetime %s, want 10d", got)
		}
		if oc := e.get(own.Serial); oc.Status != "revoked" || oc.RevocationReason == nil || *oc.RevocationReason != "superseded" {
			t.Errorf("old certificate after a renewal with revoke: %+v", oc)
		}
		renew(c.Serial, issuer, nil).problem(t, http.StatusConflict, "conflict", "does not hold its key")
		renew(own.Serial, issuer, nil).problem(t, http.StatusConflict, "conflict", "revoked")

		// A generated key returned as PKCS#12.
		rsaOld := e.issue("web", map[string]any{"key_type": "rsa-2048", "dns_names": []string{"p.example.com"}})
		var p renewed
		renew(rsaOld.Serial, issuer, map[string]any{"format": "pkcs12", "password": "pw"}).decode(t, http.StatusCreated, &p)
		der, err := base64.StdEncoding.DecodeString(p.PKCS12)
		if err != nil {
			t.Fatal(err)
		}
		key, pc, _, err := pkcs12.DecodeChain(der, "pw")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := key.(*rsa.PrivateKey); !ok || pc.DNSNames[0] != "p.example.com" || p.PrivateKey != "" {
			t.Errorf("PKCS#12 renewal: key %T, names %v", key, pc.DNSNames)
		}

		// Unknown serials, scopes, tokens limited to another profile.
		renew("0badc0de", issuer, nil).problem(t, http.StatusNotFound, "notFound", "0badc0de")
		renew(n.Serial, reader, nil).problem(t, http.StatusForbidden, "forbidden", "issue")
		e.addToken("web-only", []string{"issue"}, "web")
		renew(n.Serial, "web-only", nil).problem(t, http.StatusNotFound, "notFound", n.Serial)
		if e.get(n.Serial).RenewedBy != nil {
			t.Fatal("a refused renewal linked a successor")
		}

		// The renewal's issuance is audited as the requester's.
		var a auditPage
		e.do("GET", "/api/v1/audit?serial="+n.Serial, admin, nil).decode(t, http.StatusOK, &a)
		if len(a.Events) == 0 || a.Events[len(a.Events)-1].Action != "issue" || a.Events[len(a.Events)-1].Actor != issuer {
			t.Errorf("audit of the renewal: %+v", a.Events)
		}
	})
}
