package api_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"
)

// bundle is the answer of GET /profiles/P/latest.
type bundle struct {
	Serial      string    `json:"serial"`
	Certificate string    `json:"certificate"`
	Chain       string    `json:"chain"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	PrivateKey  string    `json:"private_key"`
}

func (e *env) latest(profile string) bundle {
	e.t.Helper()
	var b bundle
	e.do("GET", "/api/v1/profiles/"+profile+"/latest", issuer, nil).decode(e.t, http.StatusOK, &b)
	return b
}

func TestLatestBundle(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.do("GET", "/api/v1/profiles/web/latest", issuer, nil).problem(t, 404, "notFound", "profile web has no active certificate")
		e.do("GET", "/api/v1/profiles/nope/latest", issuer, nil).problem(t, 404, "notFound", `"nope"`)

		own := e.issueCSR("web", "own.example.com")
		b := e.latest("web")
		if b.Serial != own.Serial || b.Certificate != own.Certificate || b.Chain != own.Chain || b.PrivateKey != "" {
			t.Errorf("latest %+v, want %s without a key", b, own.Serial)
		}
		e.clock.Advance(time.Second)
		held := e.issue("web", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"held.example.com"}})
		b = e.latest("web")
		if b.Serial != held.Serial || b.PrivateKey != held.PrivateKey || !b.NotAfter.Equal(held.NotAfter) {
			t.Errorf("latest %s, want %s with its key", b.Serial, held.Serial)
		}
		// Handing out the key is audited; the latest without one is not.
		var a auditPage
		e.do("GET", "/api/v1/audit?serial="+held.Serial, admin, nil).decode(t, http.StatusOK, &a)
		if len(a.Events) != 2 || a.Events[0].Action != "export-key" || a.Events[0].Detail != "format=latest" {
			t.Errorf("audit: %+v", a.Events)
		}
		e.do("GET", "/api/v1/audit?serial="+own.Serial, admin, nil).decode(t, http.StatusOK, &a)
		if len(a.Events) != 1 {
			t.Errorf("audit: %+v", a.Events)
		}
		// A revoked certificate is not the latest.
		e.do("POST", "/api/v1/certificates/"+held.Serial+"/revoke", revoker, nil).decode(t, http.StatusOK, &certificate{})
		if b := e.latest("web"); b.Serial != own.Serial {
			t.Errorf("latest after revocation %s, want %s", b.Serial, own.Serial)
		}
	})
}

// Server-driven renewal, driven by the injected clock.
func TestRenewal(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		day := 24 * time.Hour
		// The device profile renews 30-day certificates 10 days ahead.
		x := e.issue("device", map[string]any{"key_type": "ecdsa-p256", "common_name": "x.example.com",
			"dns_names": []string{"x.example.com"}, "ip_addresses": []string{"10.0.0.1"}})
		if c := e.get(x.Serial); !c.AutoRenew || !c.KeyHeld {
			t.Fatalf("device certificate: %+v", c)
		}
		e.clock.Advance(time.Second)
		z := e.issue("device", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"z.example.com"}})
		var c certificate
		e.do("POST", "/api/v1/certificates/"+z.Serial+"/auto-renew", admin, map[string]bool{"enabled": false}).decode(t, http.StatusOK, &c)
		if c.AutoRenew {
			t.Fatal("auto-renew still on")
		}
		if b := e.latest("device"); b.Serial != z.Serial {
			t.Fatalf("latest %s, want %s", b.Serial, z.Serial)
		}

		// Not due yet.
		e.clock.Advance(19 * day)
		if renewed, err := e.core.RenewDue(ctx, "test"); err != nil || len(renewed) != 0 {
			t.Fatalf("renewed %v, %v before the renewal time", renewed, err)
		}
		e.clock.Advance(2 * day)
		renewed, err := e.core.RenewDue(ctx, "test")
		if err != nil || len(renewed) != 1 {
			t.Fatalf("renewed %v, %v; want x only", renewed, err)
		}
		n := renewed[0]

		old, nw := e.get(x.Serial), e.get(n)
		if old.RenewedBy == nil || *old.RenewedBy != n || nw.Replaces == nil || *nw.Replaces != x.Serial {
			t.Errorf("links: old renewed_by %v, new replaces %v", old.RenewedBy, nw.Replaces)
		}
		if nw.Status != "active" || nw.Profile != "device" || !nw.KeyHeld || !nw.AutoRenew || nw.Subject != old.Subject ||
			!slices.Equal(nw.SANs, old.SANs) || !nw.CreatedAt.Equal(e.clock.Now()) {
			t.Errorf("renewed certificate %+v, old %+v", nw, old)
		}
		if zc := e.get(z.Serial); zc.RenewedBy != nil {
			t.Errorf("%s renewed with auto-renew off", z.Serial)
		}

		b := e.latest("device")
		if b.Serial != n {
			t.Fatalf("latest %s, want the renewed %s", b.Serial, n)
		}
		oldCert, newCert := parseCerts(t, x.Certificate)[0], parseCerts(t, b.Certificate)[0]
		newKey := parseKey(t, b.PrivateKey)
		if !samePublic(newKey.Public(), newCert) || samePublic(newKey.Public(), oldCert) {
			t.Error("the renewed certificate does not have a new key of its own")
		}
		if !slices.Equal(newCert.DNSNames, oldCert.DNSNames) || newCert.Subject.CommonName != oldCert.Subject.CommonName ||
			len(newCert.IPAddresses) != 1 || !newCert.IPAddresses[0].Equal(oldCert.IPAddresses[0]) ||
			newCert.NotAfter.Sub(newCert.NotBefore) != oldCert.NotAfter.Sub(oldCert.NotBefore) {
			t.Errorf("renewed certificate %v %v %v..%v", newCert.DNSNames, newCert.IPAddresses, newCert.NotBefore, newCert.NotAfter)
		}
		e.verify(newCert, parseCerts(t, b.Chain))

		// Once renewed, never again.
		if renewed, err := e.core.RenewDue(ctx, "test"); err != nil || len(renewed) != 0 {
			t.Fatalf("second run renewed %v, %v", renewed, err)
		}

		// The runner renews the renewed one when its time comes, and
		// stops with its context.
		e.clock.Advance(21 * day)
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			e.api.RunRenewals(rctx, 10*time.Millisecond, "runner")
			close(done)
		}()
		deadline := time.Now().Add(10 * time.Second)
		for e.get(n).RenewedBy == nil {
			if time.Now().After(deadline) {
				t.Fatal("the runner did not renew")
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the runner did not stop with its context")
		}
		if zc := e.get(z.Serial); zc.RenewedBy != nil {
			t.Errorf("%s renewed with auto-renew off", z.Serial)
		}
	})
}

func TestAutoRenewSwitch(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		held := e.issue("web", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"held.example.com"}})
		own := e.issueCSR("web", "own.example.com")
		path := "/api/v1/certificates/" + held.Serial + "/auto-renew"

		var c certificate
		e.do("POST", path, admin, map[string]bool{"enabled": true}).decode(t, http.StatusOK, &c)
		if !c.AutoRenew || c.Serial != held.Serial {
			t.Fatalf("%+v", c)
		}
		e.do("POST", path, admin, map[string]bool{"enabled": false}).decode(t, http.StatusOK, &c)
		if c.AutoRenew || e.get(held.Serial).AutoRenew {
			t.Fatal("auto-renew still on")
		}
		var a auditPage
		e.do("GET", "/api/v1/audit?serial="+held.Serial, admin, nil).decode(t, http.StatusOK, &a)
		if len(a.Events) != 3 || a.Events[0].Action != "auto-renew" || a.Events[0].Detail != "enabled=false" || a.Events[0].Actor != admin {
			t.Errorf("audit: %+v", a.Events)
		}

		e.do("POST", path, admin, map[string]any{}).problem(t, 400, "malformed", `"enabled"`)
		e.do("POST", path, admin, nil).problem(t, 400, "malformed", "empty")
		e.do("POST", path, admin, map[string]any{"enabled": "yes"}).problem(t, 400, "malformed", `"enabled"`)
		e.do("POST", "/api/v1/certificates/"+own.Serial+"/auto-renew", admin, map[string]bool{"enabled": true}).
			problem(t, 409, "conflict", "does not hold its key")
		// Switching off is always allowed.
		e.do("POST", "/api/v1/certificates/"+own.Serial+"/auto-renew", admin, map[string]bool{"enabled": false}).decode(t, http.StatusOK, &c)
		e.do("POST", "/api/v1/certificates/"+held.Serial+"/revoke", revoker, nil).decode(t, http.StatusOK, &c)
		e.do("POST", path, admin, map[string]bool{"enabled": true}).problem(t, 409, "conflict", "revoked")
		e.do("POST", "/api/v1/certificates/0badc0de/auto-renew", admin, map[string]bool{"enabled": true}).problem(t, 404, "notFound")
	})
}
