package est

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/certgw/gateway/errs"
)

func TestParseCSRBody(t *testing.T) {
	der := csrDER(t, newKey(t), "p.example.com", "p.example.com")
	std := base64.StdEncoding.EncodeToString(der)
	raw := base64.RawStdEncoding.EncodeToString(der)
	for _, tc := range []struct {
		name string
		body string
		kind errs.Kind // ignored when ok
		ok   bool
	}{
		{"one line", std, 0, true},
		{"lines of 64", string(base64Lines(der)), 0, true},
		{"lines of 76 with CRLF", lines(std, 76, "\r\n"), 0, true},
		{"spaces and tabs", lines(std, 10, " \t "), 0, true},
		{"no padding", raw, 0, true},
		{"surrounding whitespace", "\n\n  " + std + "  \r\n", 0, true},
		{"PEM", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), 0, true},
		{"old PEM label", string(pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: der})), 0, true},

		{"empty", "", errs.Malformed, false},
		{"whitespace", " \r\n\t", errs.Malformed, false},
		{"not base64", "%%%%", errs.Malformed, false},
		{"URL-safe alphabet", strings.NewReplacer("+", "-", "/", "_").Replace(std) + "-_", errs.Malformed, false},
		{"padding inside", std[:8] + "=" + std[8:], errs.Malformed, false},
		{"truncated", std[:len(std)/2], errs.BadCSR, false},
		{"trailing data", base64.StdEncoding.EncodeToString(append(bytes.Clone(der), 0)), errs.BadCSR, false},
		{"PEM of another type", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), errs.Malformed, false},
		{"PEM with more after it", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})) + "junk", errs.Malformed, false},
		{"broken PEM", "-----BEGIN CERTIFICATE REQUEST-----\nabc", errs.Malformed, false},
		{"raw DER", string(der), errs.Malformed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			csr, err := ParseCSRBody([]byte(tc.body))
			if tc.ok {
				if err != nil {
					t.Fatalf("ParseCSRBody() = %v", err)
				}
				if !bytes.Equal(csr.Raw, der) {
					t.Fatal("decoded a different request")
				}
				return
			}
			if err == nil || !errs.Is(err, tc.kind) {
				t.Fatalf("ParseCSRBody() = %v (kind %v), want kind %v", err, errs.KindOf(err), tc.kind)
			}
		})
	}
}

func lines(s string, n int, sep string) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n] + sep)
		s = s[n:]
	}
	return b.String() + s
}

// FuzzParseCSRBody: whatever the body, the parser answers a request whose
// signature verifies, or a client error (400); it never panics and never
// reports a fault of ours.
func FuzzParseCSRBody(f *testing.F) {
	key := newKeyF(f)
	der := csrDERF(f, key)
	f.Add([]byte(base64.StdEncoding.EncodeToString(der)))
	f.Add(base64Lines(der))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	f.Add([]byte(base64.RawStdEncoding.EncodeToString(der[:len(der)-3])))
	f.Add([]byte(""))
	f.Add([]byte("====\r\n"))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add(der)
	f.Fuzz(func(t *testing.T, body []byte) {
		csr, err := ParseCSRBody(body)
		if err != nil {
			if k := errs.KindOf(err); k != errs.Malformed && k != errs.BadCSR {
				t.Fatalf("kind %v for a client's body: %v", k, err)
			}
			return
		}
		again, err := x509.ParseCertificateRequest(csr.Raw)
		if err != nil || again.CheckSignature() != nil {
			t.Fatalf("accepted a request that does not parse or verify: %v", err)
		}
	})
}
