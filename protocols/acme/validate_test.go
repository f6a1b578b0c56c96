package acme

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
)

// TestSSRFTargetsRefused: by default the validator contacts no loopback,
// private, link-local, unique-local, IPv4-mapped or reserved address,
// whether named directly or through DNS.
func TestSSRFTargetsRefused(t *testing.T) {
	dns := startDNS(t) // answers 127.0.0.1 for every name
	h01 := startHTTP01(t)
	v := newValidator(config.ACMEValidation{Resolver: dns.addr, HTTP01Port: h01.port, TLSALPN01Port: h01.port}, Settings{}.withDefaults())
	ctx := t.Context()
	for _, ip := range []string{"127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
		"::1", "fc00::1", "fd12::1", "fe80::1", "::ffff:127.0.0.1", "::ffff:8.8.8.8", "64:ff9b::7f00:1", "224.0.0.1"} {
		a := netip.MustParseAddr(ip)
		if v.allowedAddr(a) {
			t.Errorf("allowedAddr(%s) = true", ip)
		}
	}
	for _, ip := range []string{"8.8.8.8", "2606:4700::1111"} {
		if !v.allowedAddr(netip.MustParseAddr(ip)) {
			t.Errorf("allowedAddr(%s) = false, want true", ip)
		}
	}
	for _, c := range []struct {
		typ string
		id  storage.ACMEIdentifier
	}{
		{"http-01", storage.ACMEIdentifier{Type: "dns", Value: "loopback.test"}},
		{"http-01", storage.ACMEIdentifier{Type: "ip", Value: "127.0.0.1"}},
		{"tls-alpn-01", storage.ACMEIdentifier{Type: "dns", Value: "loopback.test"}},
		{"tls-alpn-01", storage.ACMEIdentifier{Type: "ip", Value: "::1"}},
	} {
		h01.set("/.well-known/acme-challenge/tok", "tok.thumb")
		err := v.validate(ctx, c.typ, c.id, "tok", "tok.thumb")
		p, _ := toProblem(err)
		if err == nil || p.Type != probConnection {
			t.Errorf("%s %s: %v, want a connection problem", c.typ, c.id.Value, err)
		}
	}
}

// TestHTTP01Rules: redirects only to ports 80/443 and at most 10, the body
// is capped and never echoed.
func TestHTTP01Rules(t *testing.T) {
	h01 := startHTTP01(t)
	dns := startDNS(t)
	v := newValidator(config.ACMEValidation{Resolver: dns.addr, HTTP01Port: h01.port, AllowPrivateTargets: true}, Settings{}.withDefaults())
	ctx := t.Context()
	id := storage.ACMEIdentifier{Type: "dns", Value: "h.test"}

	h01.set("/.well-known/acme-challenge/good", "good.thumb\n")
	if err := v.validate(ctx, "http-01", id, "good", "good.thumb"); err != nil {
		t.Errorf("good key authorization: %v", err)
	}
	h01.set("/.well-known/acme-challenge/wrong", "SECRET-internal-page")
	err := v.validate(ctx, "http-01", id, "wrong", "wrong.thumb")
	p, _ := toProblem(err)
	if p.Type != probUnauthorized || strings.Contains(p.Detail, "SECRET") {
		t.Errorf("wrong body: %+v", p)
	}
	h01.set("/.well-known/acme-challenge/big", strings.Repeat("x", 20000))
	if p, _ := toProblem(v.validate(ctx, "http-01", id, "big", "big.thumb")); p.Type != probUnauthorized || strings.Contains(p.Detail, "xxx") {
		t.Errorf("big body: %+v", p)
	}
	if p, _ := toProblem(v.validate(ctx, "http-01", id, "missing", "missing.thumb")); p.Type != probUnauthorized {
		t.Errorf("404: %+v", p)
	}

	// Redirects: a server of redirects on the validation port.
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/acme-challenge/", func(w http.ResponseWriter, r *http.Request) {
		switch tok := strings.TrimPrefix(r.URL.Path, "/.well-known/acme-challenge/"); {
		case tok == "port":
			http.Redirect(w, r, "http://h.test:8081/x", http.StatusFound)
		case strings.HasPrefix(tok, "loop"):
			n, _ := strconv.Atoi(strings.TrimPrefix(tok, "loop"))
			http.Redirect(w, r, fmt.Sprintf("/.well-known/acme-challenge/loop%d", n+1), http.StatusFound)
		}
	})
	h02 := startServer(t, mux)
	v2 := newValidator(config.ACMEValidation{Resolver: dns.addr, HTTP01Port: h02, AllowPrivateTargets: true}, Settings{}.withDefaults())
	if p, _ := toProblem(v2.validate(ctx, "http-01", id, "port", "port.thumb")); p.Type != probConnection || !strings.Contains(p.Detail, "port 8081") {
		t.Errorf("redirect to port 8081: %+v", p)
	}
	if p, _ := toProblem(v2.validate(ctx, "http-01", id, "loop0", "loop0.thumb")); p.Type != probConnection || !strings.Contains(p.Detail, "redirects") {
		t.Errorf("redirect loop: %+v", p)
	}
}

// TestValidationTimeout: a target that never answers ends in a clear
// error on the challenge, not a challenge stuck in processing.
func TestValidationTimeout(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	port := startServer(t, mux)
	dns := startDNS(t)
	f := newFixture(t, openSQLite(t), config.ACMEValidation{Resolver: dns.addr, HTTP01Port: port, AllowPrivateTargets: true}, Settings{ValidationTimeout: 300 * time.Millisecond})
	k := newECKey(t)
	acct := f.newAccount(k)
	r := f.post(f.base+"/new-order", k, acct, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "slow.test"}}})
	var o orderBody
	jsonUnmarshal(r.body, &o)
	var az authzJSON
	jsonUnmarshal(f.post(o.Authorizations[0], k, acct, nil).body, &az)
	f.post(az.Challenges[0].URL, k, acct, map[string]any{})
	var ch challengeJSON
	for range 100 {
		jsonUnmarshal(f.post(az.Challenges[0].URL, k, acct, nil).body, &ch)
		if ch.Status != storage.ACMEProcessing {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var p Problem
	jsonUnmarshal(ch.Error, &p)
	if ch.Status != storage.ACMEInvalid || p.Type != probConnection || !strings.Contains(p.Detail, "timed out") {
		t.Errorf("challenge after timeout: %s %+v", ch.Status, p)
	}
	_ = errors.New
	_ = context.Background
}
