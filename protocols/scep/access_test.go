package scep

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
	"github.com/smallstep/scep"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// issuerAndSerialOf is the messageData of a GetCert or GetCRL naming the
// certificate of issuer with serial.
func issuerAndSerialOf(t *testing.T, issuer []byte, serial *big.Int) []byte {
	t.Helper()
	b, err := asn1.Marshal(issuerAndSerial{Issuer: asn1.RawValue{FullBytes: issuer}, SerialNumber: serial})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// GetCert (RFC 8894 section 3.3.3) hands a device its own certificate of
// the profile, and nothing else; GetCRL (3.3.4) hands anyone the profile
// CA's current CRL, in a degenerate PKCS#7 openssl reads.
func TestGetCertAndGetCRL(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		ctx := context.Background()
		issuing := f.chain[1]
		d := newDevice(t, rsaKey(t))
		cert := f.enroll("devices", d, "cam.example.com", "cam.example.com")
		// A certificate of the same CA and another profile, for d2's key.
		d2 := newDevice(t, rsaKey(t))
		issued, err := f.env.Core.Issue(ctx, ca.IssueRequest{Profile: "other", Method: "api", Requester: "t",
			CheckedCSR: d2.csr(t, "meter.example.com", "", "meter.example.com")})
		if err != nil {
			t.Fatal(err)
		}
		other := issued.Cert

		getCert := func(by *device, issuer []byte, serial *big.Int) *scep.PKIMessage {
			t.Helper()
			return f.pkiOperation("devices", by, f.signedMessage(by, scep.GetCert, "get-cert-1", issuerAndSerialOf(t, issuer, serial)))
		}
		rep := getCert(d, issuing.RawSubject, cert.SerialNumber)
		if rep.PKIStatus != scep.SUCCESS || !rep.CertRepMessage.Certificate.Equal(cert) || string(rep.TransactionID) != "get-cert-1" {
			t.Fatalf("GetCert of the device's own certificate: %s %s", rep.PKIStatus, rep.FailInfo)
		}
		for _, tt := range []struct {
			name   string
			by     *device
			issuer []byte
			serial *big.Int
		}{
			{"by another key", newDevice(t, rsaKey(t)), issuing.RawSubject, cert.SerialNumber},
			{"a serial nobody has", d, issuing.RawSubject, big.NewInt(12345)},
			{"another issuer", d, f.chain[2].RawSubject, cert.SerialNumber},
			{"a certificate of another profile", d2, issuing.RawSubject, other.SerialNumber},
		} {
			if rep := getCert(tt.by, tt.issuer, tt.serial); rep.PKIStatus != scep.FAILURE || rep.FailInfo != scep.BadCertID {
				t.Errorf("GetCert %s: %s %s, want FAILURE badCertId", tt.name, rep.PKIStatus, rep.FailInfo)
			}
		}
		if rep := f.pkiOperation("devices", d, f.signedMessage(d, scep.GetCert, "t", []byte("not DER"))); rep.PKIStatus != scep.FAILURE || rep.FailInfo != scep.BadRequest {
			t.Errorf("GetCert without an IssuerAndSerialNumber: %s %s, want FAILURE badRequest", rep.PKIStatus, rep.FailInfo)
		}

		getCRL := func(by *device) answer {
			t.Helper()
			return f.do("POST", "/scep/devices?operation=PKIOperation", f.signedMessage(by, scep.GetCRL, "get-crl-1", issuerAndSerialOf(t, issuing.RawSubject, cert.SerialNumber)))
		}
		if a := getCRL(d); a.status != 503 {
			t.Fatalf("GetCRL before any CRL is published: %d %s, want 503", a.status, a.body)
		}
		// The CA publishes a CRL listing the other device's certificate.
		now := f.clock.Now()
		n, err := st.NextCRLNumber(ctx, "issuing")
		if err != nil {
			t.Fatal(err)
		}
		crlDER, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
			Number: big.NewInt(n), ThisUpdate: now, NextUpdate: now.Add(time.Hour),
			RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: other.SerialNumber, RevocationTime: now}},
		}, issuing, f.env.CAs["issuing"].Key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.PublishCRL(ctx, storage.PublishedCRL{CA: "issuing", Number: n, ThisUpdate: now, NextUpdate: now.Add(time.Hour), DER: crlDER}); err != nil {
			t.Fatal(err)
		}
		stranger := newDevice(t, rsaKey(t)) // a CRL is public
		deg := openCertRep(t, f, getCRL(stranger), stranger)
		p7, err := pkcs7.Parse(deg)
		if err != nil || len(p7.CRLs) != 1 || len(p7.Certificates) != 0 {
			t.Fatalf("GetCRL answer: %v, %d CRLs, %d certificates; want the CRL alone", err, len(p7.CRLs), len(p7.Certificates))
		}
		got, err := asn1.Marshal(p7.CRLs[0])
		if err != nil || string(got) != string(crlDER) {
			t.Fatalf("GetCRL answered another CRL than the published one (%v)", err)
		}
		// openssl reads the degenerate PKCS#7 and finds the CRL in it.
		file := filepath.Join(t.TempDir(), "crl.p7")
		if err := os.WriteFile(file, deg, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("openssl", "pkcs7", "-inform", "DER", "-in", file, "-print_certs", "-text", "-noout").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Certificate Revocation List") || !strings.Contains(string(out), strings.ToUpper(other.SerialNumber.Text(16))) {
			t.Fatalf("openssl pkcs7 on the GetCRL answer: %v\n%s", err, out)
		}
		if a := f.do("POST", "/scep/devices?operation=PKIOperation", f.signedMessage(d, scep.GetCRL, "t", issuerAndSerialOf(t, f.chain[2].RawSubject, big.NewInt(1)))); a.status != 200 {
			t.Fatalf("GetCRL of another issuer: %d", a.status)
		} else if rep := f.certRep(a, d); rep.PKIStatus != scep.FAILURE || rep.FailInfo != scep.BadCertID {
			t.Errorf("GetCRL of another issuer: %s %s, want FAILURE badCertId", rep.PKIStatus, rep.FailInfo)
		}
	})
}

// openCertRep checks a SUCCESS CertRep and returns its content, opened
// with d's key: the degenerate PKCS#7 (which the scep library reads only
// when it holds certificates).
func openCertRep(t *testing.T, f *fixture, a answer, d *device) []byte {
	t.Helper()
	if a.status != 200 {
		t.Fatalf("PKIOperation: %d %s", a.status, a.body)
	}
	p7, err := pkcs7.Parse(a.body)
	if err != nil {
		t.Fatal(err)
	}
	if err := p7.Verify(); err != nil {
		t.Fatalf("CertRep signature: %v", err)
	}
	var status scep.PKIStatus
	if err := p7.UnmarshalSignedAttribute(oidPKIStatus, &status); err != nil || status != scep.SUCCESS {
		t.Fatalf("CertRep status %q (%v), want SUCCESS", status, err)
	}
	env, err := pkcs7.Parse(p7.Content)
	if err != nil {
		t.Fatal(err)
	}
	content, err := env.Decrypt(d.cert, d.key)
	if err != nil {
		t.Fatalf("open the CertRep: %v", err)
	}
	return content
}
