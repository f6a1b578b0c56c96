package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/api"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// A client certificate of a profile in api.client_certs stands for a
// token over TLS: with its scopes, named by its subject; one of another
// profile, from another CA, or revoked (within the token TTL) does not.
func TestClientCertificateAuth(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		e := newEnv(t, st, func(c *api.Config) {
			c.ClientCerts = []config.ClientCertAuth{{Name: "svc", Profile: "web", Scopes: []string{"read"}}}
		})
		r := chi.NewRouter()
		e.api.Routes(r)
		srv := httptest.NewUnstartedServer(r)
		srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
		srv.StartTLS()
		t.Cleanup(srv.Close)

		issue := func(profile, name string) tls.Certificate {
			t.Helper()
			var out struct {
				Serial, Certificate, Chain string
				PrivateKey                 string `json:"private_key"`
			}
			e.do("POST", "/api/v1/profiles/"+profile+"/certificates", admin, map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{name}, "common_name": name}).
				decode(t, http.StatusCreated, &out)
			c, err := tls.X509KeyPair([]byte(out.Certificate+out.Chain), []byte(out.PrivateKey))
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		get := func(cert *tls.Certificate, method, path string) (int, string) {
			t.Helper()
			tr := srv.Client().Transport.(*http.Transport).Clone()
			tr.TLSClientConfig.Certificates = nil
			if cert != nil {
				tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
			}
			req, _ := http.NewRequest(method, srv.URL+path, nil)
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b strings.Builder
			buf := make([]byte, 4096)
			n, _ := resp.Body.Read(buf)
			b.Write(buf[:n])
			return resp.StatusCode, b.String()
		}

		svc := issue("web", "svc.example.com")
		if code, body := get(&svc, "GET", "/api/v1/certificates"); code != http.StatusOK {
			t.Fatalf("GET with the client certificate: %d %s", code, body)
		}
		if code, body := get(&svc, "POST", "/api/v1/profiles/web/certificates"); code != http.StatusForbidden || !strings.Contains(body, "cert:svc:svc.example.com") {
			t.Errorf("POST with a read-only client certificate: %d %s", code, body)
		}
		if code, body := get(nil, "GET", "/api/v1/certificates"); code != http.StatusUnauthorized || !strings.Contains(body, "client certificate") {
			t.Errorf("without a certificate or a token: %d %s", code, body)
		}
		dev := issue("device", "dev.example.com")
		if code, body := get(&dev, "GET", "/api/v1/certificates"); code != http.StatusUnauthorized || !strings.Contains(body, "profile device") {
			t.Errorf("a certificate of another profile: %d %s", code, body)
		}
		foreign := selfSignedClient(t)
		if code, body := get(&foreign, "GET", "/api/v1/certificates"); code != http.StatusUnauthorized || !strings.Contains(body, "from a CA of the gateway") {
			t.Errorf("a certificate from elsewhere: %d %s", code, body)
		}

		leaf, _ := x509.ParseCertificate(svc.Certificate[0])
		serial := strings.ToLower(leaf.SerialNumber.Text(16))
		e.do("POST", "/api/v1/certificates/"+serial+"/revoke", admin, map[string]string{"reason": "keyCompromise"}).decode(t, http.StatusOK, &struct{}{})
		e.clock.Advance(11 * time.Second)
		if code, body := get(&svc, "GET", "/api/v1/certificates"); code != http.StatusUnauthorized || !strings.Contains(body, "revoked") {
			t.Errorf("the revoked certificate: %d %s", code, body)
		}
	})
}

// selfSignedClient is a client certificate no CA of the gateway issued.
func selfSignedClient(t *testing.T) tls.Certificate {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "svc.example.com"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	c, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
