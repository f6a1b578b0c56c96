package acme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/test/coretest"
	"github.com/certgw/gateway/test/teststore"
)

// A blocked key is no account key: new-account and a key rollover to it
// are refused with badPublicKey (x/crypto/acme), and so is a ROCA key.
func TestBlockedAccountKeys(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t), config.ACMEValidation{}, Settings{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	blocked, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, _, err := f.core.BlockKey(ctx, blocked.Public(), "ops", "leaked"); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.tsRoots()}}}
	c := &xacme.Client{Key: blocked, DirectoryURL: f.dir, HTTPClient: hc}
	if _, err := c.Register(ctx, &xacme.Account{}, xacme.AcceptTOS); err == nil || !strings.Contains(err.Error(), "badPublicKey") || !strings.Contains(err.Error(), "leaked") {
		t.Errorf("Register with a blocked key: %v, want badPublicKey", err)
	}
	good, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c = &xacme.Client{Key: good, DirectoryURL: f.dir, HTTPClient: hc}
	if _, err := c.Register(ctx, &xacme.Account{}, xacme.AcceptTOS); err != nil {
		t.Fatal(err)
	}
	if err := c.AccountKeyRollover(ctx, blocked); err == nil || !strings.Contains(err.Error(), "badPublicKey") {
		t.Errorf("key rollover to a blocked key: %v, want badPublicKey", err)
	}
	if _, err := c.GetReg(ctx, ""); err != nil {
		t.Errorf("the account after a refused rollover: %v", err)
	}
	// A key weak by how it was made (ROCA) is refused as a blocked one is.
	c = &xacme.Client{Key: coretest.ROCAKey(t), DirectoryURL: f.dir, HTTPClient: hc}
	if _, err := c.Register(ctx, &xacme.Account{}, xacme.AcceptTOS); err == nil || !strings.Contains(err.Error(), "badPublicKey") || !strings.Contains(err.Error(), "ROCA") {
		t.Errorf("Register with a ROCA key: %v, want badPublicKey", err)
	}
}
