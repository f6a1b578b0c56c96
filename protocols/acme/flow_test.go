package acme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// dnsServer is a tiny UDP DNS server: every A query is 127.0.0.1, TXT
// answers come from txt, CAA answers from caa.
type dnsServer struct {
	addr string
	mu   sync.Mutex
	txt  map[string][]string
	caa  map[string][]caaRecord
}

// caaRecord is one CAA resource record (RFC 8659 section 4.1).
type caaRecord struct {
	flag       byte
	tag, value string
}

func startDNS(t *testing.T) *dnsServer {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	d := &dnsServer{addr: pc.LocalAddr().String(), txt: map[string][]string{}, caa: map[string][]caaRecord{}}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var m dnsmessage.Message
			if m.Unpack(buf[:n]) != nil || len(m.Questions) != 1 {
				continue
			}
			q := m.Questions[0]
			resp := dnsmessage.Message{Header: dnsmessage.Header{ID: m.ID, Response: true, Authoritative: true, RecursionAvailable: true}, Questions: m.Questions}
			rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}
			switch q.Type {
			case dnsmessage.TypeA:
				rh.Type = dnsmessage.TypeA
				resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: rh, Body: &dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}}})
			case dnsmessage.TypeTXT:
				d.mu.Lock()
				vals := d.txt[strings.TrimSuffix(q.Name.String(), ".")]
				d.mu.Unlock()
				rh.Type = dnsmessage.TypeTXT
				for _, v := range vals {
					resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: rh, Body: &dnsmessage.TXTResource{TXT: []string{v}}})
				}
			case typeCAA:
				d.mu.Lock()
				recs := d.caa[strings.TrimSuffix(q.Name.String(), ".")]
				d.mu.Unlock()
				rh.Type = typeCAA
				for _, r := range recs {
					data := append([]byte{r.flag, byte(len(r.tag))}, r.tag+r.value...)
					resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: rh, Body: &dnsmessage.UnknownResource{Type: typeCAA, Data: data}})
				}
			}
			out, err := resp.Pack()
			if err == nil {
				pc.WriteTo(out, from)
			}
		}
	}()
	return d
}

// typeCAA is the CAA resource record type (RFC 8659), which dnsmessage
// does not name.
const typeCAA = dnsmessage.Type(257)

func (d *dnsServer) setCAA(name string, recs ...caaRecord) {
	d.mu.Lock()
	d.caa[name] = recs
	d.mu.Unlock()
}

func (d *dnsServer) setTXT(name, value string) {
	d.mu.Lock()
	d.txt[name] = append(d.txt[name], value)
	d.mu.Unlock()
}

// http01Server serves key authorizations on a free local port.
type http01Server struct {
	port int
	mu   sync.Mutex
	keys map[string]string
}

func startHTTP01(t *testing.T) *http01Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &http01Server{port: ln.Addr().(*net.TCPAddr).Port, keys: map[string]string{}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		v, ok := h.keys[r.URL.Path]
		h.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(v))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return h
}

func (h *http01Server) set(path, body string) {
	h.mu.Lock()
	h.keys[path] = body
	h.mu.Unlock()
}

// readyOrder registers c, orders name, answers its http-01 challenge on
// h01 and returns the order once it is ready.
func readyOrder(ctx context.Context, t *testing.T, c *xacme.Client, h01 *http01Server, name string) *xacme.Order {
	t.Helper()
	if _, err := c.Register(ctx, &xacme.Account{}, xacme.AcceptTOS); err != nil {
		t.Fatalf("Register: %v", err)
	}
	o, err := c.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "dns", Value: name}})
	if err != nil {
		t.Fatalf("AuthorizeOrder: %v", err)
	}
	z, err := c.GetAuthorization(ctx, o.AuthzURLs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range z.Challenges {
		if ch.Type == "http-01" {
			body, _ := c.HTTP01ChallengeResponse(ch.Token)
			h01.set(c.HTTP01ChallengePath(ch.Token), body)
			if _, err := c.Accept(ctx, ch); err != nil {
				t.Fatalf("Accept: %v", err)
			}
		}
	}
	if o, err = c.WaitOrder(ctx, o.URI); err != nil {
		t.Fatalf("WaitOrder: %v", err)
	}
	return o
}

// TestXCryptoACMEFullOrder drives golang.org/x/crypto/acme (the client of
// cert-manager and autocert) through account, order, http-01 and dns-01,
// finalize, download and revocation, on both stores.
func TestXCryptoACMEFullOrder(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		dns := startDNS(t)
		h01 := startHTTP01(t)
		f := newFixture(t, st, config.ACMEValidation{Resolver: dns.addr, HTTP01Port: h01.port, AllowPrivateTargets: true}, Settings{RetryAfter: time.Second})
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.tsRoots()}}}
		c := &xacme.Client{Key: key, DirectoryURL: f.dir, HTTPClient: hc}
		if _, err := c.Register(ctx, &xacme.Account{Contact: []string{"mailto:ops@example.org"}}, xacme.AcceptTOS); err != nil {
			t.Fatalf("Register: %v", err)
		}
		o, err := c.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "dns", Value: "www.flow.test"}, {Type: "dns", Value: "*.flow.test"}})
		if err != nil {
			t.Fatalf("AuthorizeOrder: %v", err)
		}
		for _, u := range o.AuthzURLs {
			z, err := c.GetAuthorization(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			want := "http-01"
			if z.Wildcard {
				want = "dns-01"
			}
			var ch *xacme.Challenge
			for _, x := range z.Challenges {
				if z.Wildcard && x.Type != "dns-01" {
					t.Errorf("wildcard authorization offers %s", x.Type)
				}
				if x.Type == want {
					ch = x
				}
			}
			if ch == nil {
				t.Fatalf("no %s challenge in %+v", want, z)
			}
			switch want {
			case "http-01":
				body, _ := c.HTTP01ChallengeResponse(ch.Token)
				h01.set(c.HTTP01ChallengePath(ch.Token), body)
			case "dns-01":
				rec, _ := c.DNS01ChallengeRecord(ch.Token)
				dns.setTXT("_acme-challenge."+z.Identifier.Value, rec)
			}
			if _, err := c.Accept(ctx, ch); err != nil {
				t.Fatalf("Accept: %v", err)
			}
			if _, err := c.WaitAuthorization(ctx, u); err != nil {
				t.Fatalf("WaitAuthorization(%s): %v", want, err)
			}
		}
		if o, err = c.WaitOrder(ctx, o.URI); err != nil {
			t.Fatalf("WaitOrder: %v", err)
		}
		ck, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "www.flow.test"}, DNSNames: []string{"www.flow.test", "*.flow.test"}}, ck)
		ders, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
		if err != nil {
			t.Fatalf("CreateOrderCert: %v", err)
		}
		if len(ders) != 2 {
			t.Errorf("chain of %d certificates, want leaf and issuing CA", len(ders))
		}
		leaf, err := x509.ParseCertificate(ders[0])
		if err != nil {
			t.Fatal(err)
		}
		inter, _ := x509.ParseCertificate(ders[1])
		pool := x509.NewCertPool()
		pool.AddCert(inter)
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: f.roots, Intermediates: pool, DNSName: "x.flow.test"}); err != nil {
			t.Errorf("leaf does not verify for the wildcard: %v", err)
		}
		if err := c.RevokeCert(ctx, nil, ders[0], xacme.CRLReasonKeyCompromise); err != nil {
			t.Errorf("RevokeCert (account): %v", err)
		}
		// Signed by the certificate's key (jwk): alreadyRevoked, which the
		// client reports as success.
		if err := c.RevokeCert(ctx, ck, ders[0], xacme.CRLReasonKeyCompromise); err != nil {
			t.Errorf("second RevokeCert (certificate key) = %v, want alreadyRevoked (nil)", err)
		}
		rec, err := f.store.GetCertificate(ctx, serialHex(leaf))
		if err != nil || rec.Status != storage.StatusRevoked || rec.RevocationReason != 1 {
			t.Errorf("after revocation: %+v, %v", rec.Status, err)
		}
	})
}

func (f *fixture) tsRoots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(f.ts.Certificate())
	return p
}

func serialHex(c *x509.Certificate) string { return ca.SerialHex(c.SerialNumber) }
