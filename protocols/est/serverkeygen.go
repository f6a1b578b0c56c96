package est

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"slices"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/internal/ratelimit"
)

// serverkeygen answers POST serverkeygen (RFC 7030 section 4.4): the
// gateway generates the key, where the profile allows server_keygen. The
// CSR names the subject and SANs; its own key only proves that the client
// made it (RFC 7030 section 4.4.1), and its type chooses the type of the
// new key when the profile allows it (else the profile's first key type).
//
// The answer is multipart/mixed (RFC 7030 section 4.4.2): the private key
// as an unencrypted PKCS#8 (application/pkcs8; it is protected by TLS) and
// the certificate as a certs-only PKCS#7. What happens to the key
// afterwards is the core's to decide: it keeps it sealed for bundles and
// server-driven renewal.
//
// A CSR that asks for the key encrypted to a symmetric or asymmetric key
// of its own (RFC 7030 sections 4.4.1.1 and 4.4.1.2, DecryptKeyIdentifier
// and AsymmetricDecryptKeyIdentifier) names a key the server must already
// hold; the gateway holds none, so, as those sections require of a server
// without the identified key, it refuses the request (400) rather than
// answer with a key the client did not want unencrypted.
func (s *Server) serverkeygen(w http.ResponseWriter, r *http.Request, ps *profileState) {
	id, csr, err := s.enrollment(w, r, ps)
	if err == nil {
		err = refuseEncryptedDelivery(csr)
	}
	if err == nil {
		err = s.limiter.Take(ratelimit.Requester(ps.name, id.requester), s.now())
	}
	if err != nil {
		s.fail(w, r, ps.name, err)
		return
	}
	kt := ca.KeyTypeName(csr.PublicKey)
	if !slices.Contains(ps.profile.KeyTypes, kt) {
		kt = ps.profile.KeyTypes[0]
	}
	issued, err := s.issue(r.Context(), ca.IssueRequest{
		Profile: ps.name, Method: "est", Requester: id.requester,
		Generate: &ca.GenerateRequest{
			KeyType: kt, CommonName: csr.Subject.CommonName, DNSNames: csr.DNSNames,
			IPs: ca.Strings(csr.IPAddresses), Emails: csr.EmailAddresses, URIs: ca.Strings(csr.URIs),
		},
		// The device takes its key with it; the gateway keeps a copy only
		// where the profile renews keys it holds (RFC 7030 4.4 leaves it to
		// the server).
		DiscardKey: !ps.profile.AutoRenew,
	})
	if err != nil {
		s.fail(w, r, ps.name, err)
		return
	}
	body, boundary, err := keyAndCert(issued)
	if err != nil {
		s.fail(w, r, ps.name, err)
		return
	}
	w.Header().Set("Content-Type", "multipart/mixed; boundary="+boundary)
	w.Header().Set("Cache-Control", "no-store") // it carries a private key
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// keyAndCert encodes the two parts of a serverkeygen answer, key first as
// in the example of RFC 7030 appendix A.4.
func keyAndCert(issued *ca.Issued) ([]byte, string, error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(issued.Key)
	if err != nil {
		return nil, "", errs.Wrap(errs.Internal, err, "encode the generated key")
	}
	p7, err := certsOnly(issued.Cert)
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, part := range []struct {
		mediaType string
		der       []byte
	}{{mediaPKCS8, keyDER}, {mediaCertsOnly, p7}} {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", part.mediaType)
		h.Set("Content-Transfer-Encoding", "base64")
		pw, err := mw.CreatePart(h)
		if err != nil {
			return nil, "", errs.Wrap(errs.Internal, err, "multipart")
		}
		pw.Write(base64Lines(part.der))
	}
	if err := mw.Close(); err != nil {
		return nil, "", errs.Wrap(errs.Internal, err, "multipart")
	}
	return buf.Bytes(), mw.Boundary(), nil
}

// The CSR attributes by which a client asks for its server-generated key
// encrypted (RFC 7030 section 4.4.1.1, RFC 4108 section 2.2.5; RFC 7030
// section 4.4.1.2).
var (
	oidDecryptKeyID           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 37}
	oidAsymmetricDecryptKeyID = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 54}
)

// refuseEncryptedDelivery is a BadCSR if csr asks for encrypted key
// delivery (see serverkeygen).
func refuseEncryptedDelivery(csr *x509.CertificateRequest) error {
	for _, a := range []struct {
		oid  asn1.ObjectIdentifier
		name string
	}{
		{oidDecryptKeyID, "DecryptKeyIdentifier (RFC 7030 section 4.4.1.1)"},
		{oidAsymmetricDecryptKeyID, "AsymmetricDecryptKeyIdentifier (RFC 7030 section 4.4.1.2)"},
	} {
		_, found, err := csrAttribute(csr, a.oid)
		if err != nil {
			return err
		}
		if found {
			return errs.New(errs.BadCSR, "the CSR asks for the key encrypted to the key named by its %s; this server holds no such key: leave the attribute out to receive the key protected by TLS alone", a.name)
		}
	}
	return nil
}
