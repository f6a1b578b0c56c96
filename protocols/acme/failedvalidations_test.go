package acme

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/test/teststore"
)

// With acme.failed_validations_per_hour, an account whose validations of
// a name keep failing gets no new order for that name until the oldest
// failure is an hour old: rateLimited with Retry-After. Other names, and
// other accounts, are not limited.
func TestFailedValidationsLimited(t *testing.T) {
	h01 := startHTTP01(t) // answers nothing: every http-01 validation fails
	f := newFixture(t, teststore.SQLite(t), config.ACMEValidation{HTTP01Port: h01.port, AllowPrivateTargets: true, Resolver: startDNS(t).addr},
		Settings{RetryAfter: 100 * time.Millisecond, ValidationHeadStart: 50 * time.Millisecond, FailedValidationsPerHour: 2})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	client := func() *xacme.Client {
		c := &xacme.Client{Key: newECKey(t).signer, DirectoryURL: f.dir,
			HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.tsRoots()}}},
			// No waiting out a Retry-After; a nonce the moved clock
			// expired is retried.
			RetryBackoff: func(n int, _ *http.Request, res *http.Response) time.Duration {
				if res.StatusCode == http.StatusTooManyRequests || n > 3 {
					return -1
				}
				return 10 * time.Millisecond
			}}
		if _, err := c.Register(ctx, &xacme.Account{}, xacme.AcceptTOS); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := client()
	failOnce := func(name string) error {
		t.Helper()
		o, err := c.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "ip", Value: name}})
		if err != nil {
			return err
		}
		z, err := c.GetAuthorization(ctx, o.AuthzURLs[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range z.Challenges {
			if ch.Type == "http-01" {
				if _, err := c.Accept(ctx, ch); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := c.WaitAuthorization(ctx, o.AuthzURLs[0]); err == nil {
			t.Fatal("a validation against a server that answers nothing succeeded")
		}
		return nil
	}
	for i := range 2 {
		if err := failOnce("127.0.0.1"); err != nil {
			t.Fatalf("order %d: %v", i+1, err)
		}
	}
	f.clock.Advance(10 * time.Minute)
	_, err := c.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "ip", Value: "127.0.0.1"}})
	var ae *xacme.Error
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusTooManyRequests || ae.ProblemType != errNS+"rateLimited" ||
		!strings.Contains(ae.Detail, "2 validations of 127.0.0.1 by this account failed in the last hour") {
		t.Fatalf("a third order after two failures: %v, want rateLimited", err)
	}
	if _, err := c.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "ip", Value: "127.0.0.2"}}); err != nil {
		t.Errorf("another name: %v", err)
	}
	if _, err := client().AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "ip", Value: "127.0.0.1"}}); err != nil {
		t.Errorf("another account: %v", err)
	}
	f.clock.Advance(51 * time.Minute)
	if _, err := c.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "ip", Value: "127.0.0.1"}}); err != nil {
		t.Errorf("an hour after the first failure: %v", err)
	}
}
