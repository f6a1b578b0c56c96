package api_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/certgw/gateway/ca"
)

func TestIssueFromCSR(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			key  crypto.Signer
		}{{"ecdsa-p256", ecKey}, {"rsa-2048", rsaKey}} {
			t.Run(tc.name, func(t *testing.T) {
				dns := []string{"www." + tc.name + ".example.com", tc.name + ".example.com"}
				ips := []net.IP{net.ParseIP("10.1.2.3")}
				r := e.do("POST", "/api/v1/profiles/web/certificates", issuer,
					map[string]any{"csr": csrPEM(t, tc.key, dns[0], dns, ips), "validity": "30d"})
				var raw map[string]any
				r.decode(t, http.StatusCreated, &raw)
				for _, k := range []string{"private_key", "pkcs12"} {
					if _, ok := raw[k]; ok {
						t.Errorf("a CSR issuance answers %s", k)
					}
				}
				var out issued
				json.Unmarshal(r.body, &out)

				certs := parseCerts(t, out.Certificate)
				chain := parseCerts(t, out.Chain)
				if len(certs) != 1 || len(chain) != 2 || !chain[1].Equal(e.root) {
					t.Fatalf("%d certificates, chain of %d", len(certs), len(chain))
				}
				cert := certs[0]
				e.verify(cert, chain)
				if out.Serial != ca.SerialHex(cert.SerialNumber) || out.Serial != strings.ToLower(out.Serial) {
					t.Errorf("serial %q, certificate has %s", out.Serial, ca.SerialHex(cert.SerialNumber))
				}
				if !samePublic(tc.key.Public(), cert) || !slices.Equal(cert.DNSNames, dns) || len(cert.IPAddresses) != 1 || cert.Subject.CommonName != dns[0] {
					t.Errorf("certificate for %v %v CN %q", cert.DNSNames, cert.IPAddresses, cert.Subject.CommonName)
				}
				if !out.NotBefore.Equal(cert.NotBefore) || !out.NotAfter.Equal(cert.NotAfter) ||
					!cert.NotAfter.Equal(e.clock.Now().Add(30*24*time.Hour)) {
					t.Errorf("validity %v..%v, certificate %v..%v", out.NotBefore, out.NotAfter, cert.NotBefore, cert.NotAfter)
				}
				if r.header.Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
				}

				// The inventory record, under the serial in any spelling.
				c := e.get(out.Serial)
				want := certificate{
					Serial: out.Serial, CA: "issuing", Profile: "web", Method: "api", Requester: issuer, Status: "active",
					SANs: append(slices.Clone(dns), "10.1.2.3"), Subject: "CN=" + dns[0],
					NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, CreatedAt: e.clock.Now(),
				}
				if !equalCert(c, want) {
					t.Errorf("record\n%+v\nwant\n%+v", c, want)
				}
				colons := strings.ToUpper(out.Serial[:2]) + ":" + strings.ToUpper(out.Serial[2:4]) + ":" + out.Serial[4:]
				if got := e.get(colons); got.Serial != out.Serial {
					t.Errorf("GET %s found %s", colons, got.Serial)
				}

				// The PEM chain.
				r = e.do("GET", "/api/v1/certificates/"+strings.ToUpper(out.Serial)+"/pem", reader, nil)
				if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/pem-certificate-chain" {
					t.Fatalf("pem: %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
				}
				if got := parseCerts(t, string(r.body)); len(got) != 3 || !got[0].Equal(cert) || !got[1].Equal(chain[0]) || !got[2].Equal(e.root) {
					t.Errorf("pem holds %d certificates, not the certificate, the issuing CA and the root", len(got))
				}
			})
		}
	})
}

// equalCert compares records, times by instant.
func equalCert(a, b certificate) bool {
	sameTime := func(x, y *time.Time) bool {
		return (x == nil) == (y == nil) && (x == nil || x.Equal(*y))
	}
	sameStr := func(x, y *string) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.Serial == b.Serial && a.CA == b.CA && a.Profile == b.Profile && a.Method == b.Method &&
		a.Requester == b.Requester && a.Status == b.Status && slices.Equal(a.SANs, b.SANs) && a.Subject == b.Subject &&
		a.NotBefore.Equal(b.NotBefore) && a.NotAfter.Equal(b.NotAfter) && a.CreatedAt.Equal(b.CreatedAt) &&
		sameTime(a.RevokedAt, b.RevokedAt) && sameStr(a.RevocationReason, b.RevocationReason) &&
		a.AutoRenew == b.AutoRenew && a.KeyHeld == b.KeyHeld && sameStr(a.Replaces, b.Replaces) && sameStr(a.RenewedBy, b.RenewedBy)
}

func TestIssueGeneratedKey(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		t.Run("uri", func(t *testing.T) {
			out := e.issue("web", map[string]any{"key_type": "ecdsa-p256", "uris": []string{"spiffe://example.com/ns/prod/sa/web"}})
			cert := parseCerts(t, out.Certificate)[0]
			if len(cert.URIs) != 1 || cert.URIs[0].String() != "spiffe://example.com/ns/prod/sa/web" || len(cert.DNSNames) != 0 {
				t.Errorf("URIs %v, DNS names %v", cert.URIs, cert.DNSNames)
			}
		})
		t.Run("pem", func(t *testing.T) {
			out := e.issue("web", map[string]any{
				"key_type": "ecdsa-p256", "common_name": "gen.example.com",
				"dns_names": []string{"gen.example.com"}, "ip_addresses": []string{"10.9.9.9"}, "auto_renew": true,
			})
			cert := parseCerts(t, out.Certificate)[0]
			chain := parseCerts(t, out.Chain)
			e.verify(cert, chain)
			key := parseKey(t, out.PrivateKey)
			if !samePublic(key.Public(), cert) || ca.KeyTypeName(key.Public()) != "ecdsa-p256" {
				t.Error("the private key does not belong to the certificate")
			}
			if out.PKCS12 != "" {
				t.Error("pkcs12 in a PEM answer")
			}
			c := e.get(out.Serial)
			if !c.KeyHeld || !c.AutoRenew || c.Subject != "CN=gen.example.com" || !slices.Equal(c.SANs, []string{"gen.example.com", "10.9.9.9"}) {
				t.Errorf("record %+v", c)
			}
		})
		t.Run("pkcs12", func(t *testing.T) {
			const password = "correct horse battery staple"
			out := e.issue("web", map[string]any{
				"key_type": "rsa-2048", "dns_names": []string{"p12.example.com"}, "format": "pkcs12", "password": password,
			})
			if out.PrivateKey != "" {
				t.Error("private_key in a PKCS#12 answer")
			}
			p12, err := base64.StdEncoding.DecodeString(out.PKCS12)
			if err != nil {
				t.Fatal(err)
			}
			key, cert, cas, err := pkcs12.DecodeChain(p12, password)
			if err != nil {
				t.Fatal(err)
			}
			if pem := parseCerts(t, out.Certificate); !cert.Equal(pem[0]) || !samePublic(key.(crypto.Signer).Public(), cert) {
				t.Error("the PKCS#12 key and certificate are not the issued ones")
			}
			if len(cas) != 2 || !cas[1].Equal(e.root) {
				t.Errorf("PKCS#12 chain of %d", len(cas))
			}
			if _, _, _, err := pkcs12.DecodeChain(p12, "wrong"); err == nil {
				t.Error("the PKCS#12 opens with a wrong password")
			}
			// OpenSSL 3 reads it too.
			text := opensslPKCS12(t, p12, password)
			if !strings.Contains(text, "-----BEGIN PRIVATE KEY-----") || strings.Count(text, "-----BEGIN CERTIFICATE-----") != 3 {
				t.Errorf("openssl output:\n%s", text)
			}
			if e.get(out.Serial).AutoRenew {
				t.Error("auto_renew on, though the web profile defaults to off")
			}
		})
	})
}

// A refused request is a 400 (or 403, 404) that names the rule or field,
// and stores nothing.
func TestIssueProblems(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		goodCSR := csrPEM(t, key, "", []string{"ok.example.com"}, nil)
		tests := []struct {
			name    string
			profile string
			body    any
			status  int
			kind    string
			detail  []string
		}{
			{"name outside the profile", "web", map[string]any{"csr": csrPEM(t, key, "", []string{"ok.example.com", "www.evil.org"}, nil)},
				400, "rejectedIdentifier", []string{"rule names.dns", `"www.evil.org"`}},
			{"IP outside the profile", "web", map[string]any{"csr": csrPEM(t, key, "", []string{"ok.example.com"}, []net.IP{net.ParseIP("192.0.2.1")})},
				400, "rejectedIdentifier", []string{"rule names.ip_ranges", "192.0.2.1"}},
			{"generated name outside the profile", "web", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"evil.org"}},
				400, "rejectedIdentifier", []string{"rule names.dns", `"evil.org"`}},
			{"URI outside the profile", "web", map[string]any{"key_type": "ecdsa-p256", "uris": []string{"spiffe://evil.org/x"}},
				400, "rejectedIdentifier", []string{"rule names.uris", `"spiffe://evil.org/x"`}},
			{"uris with a CSR", "web", map[string]any{"csr": goodCSR, "uris": []string{"spiffe://example.com/x"}},
				400, "malformed", []string{`"uris"`}},
			{"key type outside the profile", "web", map[string]any{"csr": csrPEM(t, p384, "", []string{"ok.example.com"}, nil)},
				400, "badCSR", []string{"rule key_types", "ecdsa-p384"}},
			{"generated key type outside the profile", "device", map[string]any{"key_type": "rsa-2048", "dns_names": []string{"ok.example.com"}},
				400, "badCSR", []string{"rule key_types", "rsa-2048"}},
			{"unknown key type", "web", map[string]any{"key_type": "dsa-1024", "dns_names": []string{"ok.example.com"}},
				400, "malformed", []string{`"dsa-1024"`}},
			{"validity over the maximum", "web", map[string]any{"csr": goodCSR, "validity": "398d"},
				400, "malformed", []string{"max_validity"}},
			{"validity not a duration", "web", map[string]any{"csr": goodCSR, "validity": "soon"},
				400, "malformed", []string{`"validity"`, `"soon"`}},
			{"negative validity", "web", map[string]any{"csr": goodCSR, "validity": "-1h"},
				400, "malformed", []string{`"validity"`}},
			{"unknown field", "web", map[string]any{"csr": goodCSR, "colour": "red"},
				400, "malformed", []string{`unknown field "colour"`}},
			{"wrong type", "web", map[string]any{"key_type": "ecdsa-p256", "dns_names": "ok.example.com"},
				400, "malformed", []string{`"dns_names"`, "an array"}},
			{"not JSON", "web", "csr=abc", 400, "malformed", []string{"not valid JSON"}},
			{"not an object", "web", "[1, 2]", 400, "malformed", []string{"JSON object"}},
			{"two values", "web", `{"csr": "x"} {}`, 400, "malformed", []string{"more than one JSON value"}},
			{"empty body", "web", nil, 400, "malformed", []string{"empty"}},
			{"too large", "web", `{"csr": "` + strings.Repeat("A", 2<<20) + `"}`, 400, "malformed", []string{"larger than 1048576 bytes"}},
			{"truncated", "web", `{"csr": "`, 400, "malformed", []string{"truncated"}},
			{"neither CSR nor key type", "web", map[string]any{"dns_names": []string{"ok.example.com"}},
				400, "malformed", []string{`"csr"`, `"key_type"`}},
			{"CSR and key type", "web", map[string]any{"csr": goodCSR, "key_type": "ecdsa-p256"},
				400, "malformed", []string{`"key_type"`, `"csr"`}},
			{"CSR and names", "web", map[string]any{"csr": goodCSR, "dns_names": []string{"x.example.com"}},
				400, "malformed", []string{`"dns_names"`}},
			{"CSR with auto_renew", "web", map[string]any{"csr": goodCSR, "auto_renew": true},
				400, "malformed", []string{`"auto_renew"`}},
			{"CSR not PEM", "web", map[string]any{"csr": "hello"}, 400, "badCSR", []string{`"csr"`}},
			{"CSR of garbage", "web", map[string]any{"csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"},
				400, "badCSR", []string{"parse CSR"}},
			{"pkcs12 without password", "web", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"ok.example.com"}, "format": "pkcs12"},
				400, "malformed", []string{`"password"`}},
			{"password without pkcs12", "web", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"ok.example.com"}, "password": "x"},
				400, "malformed", []string{`"password"`}},
			{"unknown format", "web", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"ok.example.com"}, "format": "der"},
				400, "malformed", []string{`"format"`, `"der"`}},
			{"no names", "web", map[string]any{"key_type": "ecdsa-p256"}, 400, "badCSR", []string{"rule names"}},
			{"unknown profile", "nope", map[string]any{"csr": goodCSR}, 404, "notFound", []string{`"nope"`}},
			{"method not allowed", "acme-only", map[string]any{"csr": goodCSR}, 403, "forbidden", []string{"rule methods", `"api"`}},
			{"no server keygen", "csr-only", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"ok.example.com"}},
				403, "forbidden", []string{"rule server_keygen"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.do("POST", "/api/v1/profiles/"+tt.profile+"/certificates", issuer, tt.body)
				r.problem(t, tt.status, tt.kind, tt.detail...)
			})
		}
		// Nothing was stored, nothing audited as issued.
		if p := e.list("?status=pending"); len(p.Certificates) != 0 {
			t.Errorf("%d pending certificates after refusals", len(p.Certificates))
		}
		if p := e.list(""); len(p.Certificates) != 0 {
			t.Errorf("%d certificates after refusals", len(p.Certificates))
		}
		var a auditPage
		e.do("GET", "/api/v1/audit", admin, nil).decode(t, http.StatusOK, &a)
		for _, ev := range a.Events {
			if ev.Action == "issue" {
				t.Errorf("audit holds an issuance: %+v", ev)
			}
		}
		if !strings.Contains(e.logs.String(), "issuance refused") {
			t.Error("refusals are not logged")
		}
	})
}

// "subject" names subject attributes of a generated key's certificate,
// which the profile takes where it lets a request set them (here none:
// ignored); with a CSR, whose subject says it, the field is refused.
func TestIssueSubjectField(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		out := e.issue("web", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"s.example.com"},
			"subject": map[string]string{"organizational_unit": "Ignored"}})
		if cert := parseCerts(t, out.Certificate)[0]; len(cert.Subject.OrganizationalUnit) != 0 {
			t.Errorf("subject %s: the profile lets no request set an OU", cert.Subject)
		}
		e.do("POST", "/api/v1/profiles/web/certificates", issuer, map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"s.example.com"},
			"subject": map[string]string{"title": "x"}}).problem(t, http.StatusBadRequest, "malformed", `"subject"`, "title")
		e.do("POST", "/api/v1/profiles/web/certificates", issuer, map[string]any{"csr": csrPEM(t, newP256(t), "", []string{"s.example.com"}, nil),
			"subject": map[string]string{"organization": "x"}}).problem(t, http.StatusBadRequest, "malformed", `"subject"`)
	})
}
