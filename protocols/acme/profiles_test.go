package acme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// profilesFixture is a fixture whose default directory also offers
// "short" (7-day certificates for names under short.test), while "solo"
// has a directory of its own that default does not offer.
func profilesFixture(t *testing.T, st storage.Store) *fixture {
	def := testProfile()
	def.ACME.Profiles = []string{"short"}
	short := testProfile()
	short.Name, short.Description = "short", "7-day certificates for short.test"
	short.Names = config.Names{DNS: []string{".short.test"}, Max: 10}
	short.MaxValidity, short.DefaultValidity = config.Duration(7*24*time.Hour), config.Duration(7*24*time.Hour)
	solo := testProfile()
	solo.Name = "solo"
	f := newFixtureWith(t, st, config.ACMEValidation{}, Settings{RetryAfter: time.Second}, def, short, solo)
	f.srv.val = okValidator{}
	return f
}

// draft-ietf-acme-profiles with golang.org/x/crypto/acme: the directory
// lists its own profile and the one it offers; an order naming "short" is
// issued under it (its lifetime, its inventory profile, "profile" in the
// order), one naming none under the directory's own.
func TestOrderProfiles(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := profilesFixture(t, st)
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.tsRoots()}}}
		c := &xacme.Client{Key: key, DirectoryURL: f.dir, HTTPClient: hc}
		dir, err := c.Discover(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[xacme.ProfileName]string{
			"default": "certificate profile default: valid for 30d, at most 90d",
			"short":   "7-day certificates for short.test",
		}
		if len(dir.Profiles) != len(want) || dir.Profiles["default"] != want["default"] || dir.Profiles["short"] != want["short"] {
			t.Errorf("meta.profiles %v, want %v", dir.Profiles, want)
		}
		if _, err := c.Register(ctx, &xacme.Account{}, xacme.AcceptTOS); err != nil {
			t.Fatal(err)
		}
		issue := func(name string, opts ...xacme.OrderOption) (*xacme.Order, *x509.Certificate) {
			t.Helper()
			o, err := c.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "dns", Value: name}}, opts...)
			if err != nil {
				t.Fatalf("AuthorizeOrder %s: %v", name, err)
			}
			for _, u := range o.AuthzURLs {
				z, err := c.GetAuthorization(ctx, u)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.Accept(ctx, z.Challenges[0]); err != nil {
					t.Fatal(err)
				}
			}
			if o, err = c.WaitOrder(ctx, o.URI); err != nil {
				t.Fatalf("WaitOrder: %v", err)
			}
			ck, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{}, DNSNames: []string{name}}, ck)
			ders, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, false)
			if err != nil {
				t.Fatalf("CreateOrderCert %s: %v", name, err)
			}
			leaf, _ := x509.ParseCertificate(ders[0])
			if o, err = c.GetOrder(ctx, o.URI); err != nil {
				t.Fatal(err)
			}
			return o, leaf
		}
		for _, tc := range []struct {
			name, profile string
			opts          []xacme.OrderOption
			lifetime      time.Duration
		}{
			{"www.short.test", "short", []xacme.OrderOption{xacme.WithOrderIssuanceProfile("short")}, 7 * 24 * time.Hour},
			{"www.short.test", "default", nil, 30 * 24 * time.Hour},
			{"www.long.test", "default", []xacme.OrderOption{xacme.WithOrderIssuanceProfile("default")}, 30 * 24 * time.Hour},
		} {
			o, leaf := issue(tc.name, tc.opts...)
			if string(o.Profile) != tc.profile {
				t.Errorf("%s %v: order profile %q, want %q", tc.name, tc.opts, o.Profile, tc.profile)
			}
			if got := leaf.NotAfter.Sub(leaf.NotBefore); got < tc.lifetime-2*time.Minute || got > tc.lifetime+2*time.Minute {
				t.Errorf("%s under %s: valid for %v, want %v", tc.name, tc.profile, got, tc.lifetime)
			}
			rec, err := st.GetCertificate(ctx, serialHex(leaf))
			if err != nil || rec.Profile != tc.profile || rec.Method != "acme" {
				t.Errorf("%s: inventory %+v, %v; want profile %s", tc.name, rec, err, tc.profile)
			}
		}
	})
}

// Orders that name a profile the directory does not offer are refused
// with invalidProfile and store nothing; an offered profile's own name
// policy decides its orders; a directory that offers nothing else lists
// only its own profile.
func TestOrderProfileRefusals(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := profilesFixture(t, st)
		k := newECKey(t)
		acct := f.newAccount(k)
		order := func(profile, name string) result {
			t.Helper()
			return f.post(f.base+"/new-order", k, acct, map[string]any{
				"identifiers": []map[string]string{{"type": "dns", "value": name}}, "profile": profile,
			})
		}
		for _, p := range []string{"solo", "noacme", "ghost", "SHORT"} {
			r := order(p, "www.short.test")
			if r.status != http.StatusBadRequest || r.prob.Type != probInvalidProfile ||
				!strings.Contains(r.prob.Detail, `"`+p+`"`) || !strings.Contains(r.prob.Detail, "default, short") {
				t.Errorf("profile %q: %d %s", p, r.status, r.body)
			}
		}
		r := order("short", "www.example.test")
		if r.status != http.StatusBadRequest || r.prob.Type != probRejectedIdentifier || !strings.Contains(r.prob.Detail, "www.example.test") {
			t.Errorf("a name outside short's policy: %d %s", r.status, r.body)
		}
		id := acct[strings.LastIndex(acct, "/")+1:]
		if n, err := st.CountACMEOrders(t.Context(), id, time.Time{}); err != nil || n != 0 {
			t.Errorf("refused orders stored: %d, %v", n, err)
		}
		if r := order("default", "www.example.test"); r.status != http.StatusCreated {
			t.Errorf("the same name under the directory's own profile: %d %s", r.status, r.body)
		}
		resp, err := f.ts.Client().Get(f.ts.URL + "/acme/solo/directory")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var d struct {
			Meta struct {
				Profiles map[string]string `json:"profiles"`
			} `json:"meta"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || len(d.Meta.Profiles) != 1 || d.Meta.Profiles["solo"] == "" {
			t.Errorf("solo's directory lists profiles %v (%v), want solo only", d.Meta.Profiles, err)
		}
	})
}
