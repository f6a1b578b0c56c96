package est

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"net/http"

	"github.com/smallstep/pkcs7"

	"github.com/certgw/gateway/errs"
)

// Wire formats. RFC 7030 sends DER in base64 (sections 4.1.3, 4.2.1,
// 4.2.3, 4.4.2, 4.5.2, with the clarifications of RFC 8951 section 3.2:
// whitespace and line breaks may appear anywhere and must be ignored; the
// Content-Transfer-Encoding header is informative only).

const (
	// mediaCertsOnly is an enrollment answer: a certs-only CMC Simple PKI
	// Response (RFC 5272 section 4.1), that is a degenerate SignedData.
	mediaCertsOnly = "application/pkcs7-mime; smime-type=certs-only"
	// mediaCACerts is the cacerts answer (RFC 7030 section 4.1.3).
	mediaCACerts   = "application/pkcs7-mime"
	mediaCSRAttrs  = "application/csrattrs"
	mediaPKCS8     = "application/pkcs8"
	base64LineSize = 64
)

// readBody reads a request body of at most max bytes. A longer body is an
// error wrapping *http.MaxBytesError, which fail answers with 413.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, errs.Wrap(errs.Malformed, err, "the request body is larger than %d bytes", max)
	case err != nil:
		return nil, errs.Wrap(errs.Malformed, err, "reading the request body")
	}
	return b, nil
}

// ParseCSRBody decodes the body of simpleenroll, simplereenroll and
// serverkeygen: a base64 DER PKCS#10 request (RFC 7030 section 4.2.1), with
// or without line breaks, with or without padding. A PEM "CERTIFICATE
// REQUEST" is accepted too, since a device integrator with openssl has one
// at hand. The request's signature is checked here (proof-of-possession,
// RFC 7030 section 3.4), because this edge reads the request's names and
// attributes before the core sees it.
func ParseCSRBody(body []byte) (*x509.CertificateRequest, error) {
	der, err := decodeBody(body)
	if err != nil {
		return nil, err
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, errs.Wrap(errs.BadCSR, err, "the body is not a DER PKCS#10 certification request")
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, errs.Wrap(errs.BadCSR, err, "the signature of the certification request does not verify")
	}
	return csr, nil
}

// decodeBody turns base64 (or PEM) into DER.
func decodeBody(body []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, errs.New(errs.Malformed, "empty body: send a base64-encoded PKCS#10 request (RFC 7030 section 4.2.1)")
	}
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		block, rest := pem.Decode(trimmed)
		switch {
		case block == nil:
			return nil, errs.New(errs.Malformed, "the body starts like PEM but is not")
		case block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST":
			return nil, errs.New(errs.Malformed, "the body is a PEM %q, not a CERTIFICATE REQUEST", block.Type)
		case len(bytes.TrimSpace(rest)) > 0:
			return nil, errs.New(errs.Malformed, "the body has data after its PEM block")
		}
		return block.Bytes, nil
	}
	// RFC 8951 section 3.2.2: ignore whitespace and line breaks.
	clean := make([]byte, 0, len(trimmed))
	for _, c := range trimmed {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			clean = append(clean, c)
		}
	}
	clean = bytes.TrimRight(clean, "=")
	der := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, err := base64.RawStdEncoding.Decode(der, clean)
	if err != nil {
		return nil, errs.Wrap(errs.Malformed, err, "the body is not base64 (RFC 7030 section 4.2.1)")
	}
	return der[:n], nil
}

// base64Lines encodes DER as base64 in lines of 64 characters, each ended
// by a line feed, as openssl base64 -d and every EST client read it.
func base64Lines(der []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(der)
	out := make([]byte, 0, len(enc)+len(enc)/base64LineSize+1)
	for len(enc) > base64LineSize {
		out = append(out, enc[:base64LineSize]...)
		out = append(out, '\n')
		enc = enc[base64LineSize:]
	}
	out = append(out, enc...)
	return append(out, '\n')
}

// writeBase64 answers 200 with DER in base64.
func writeBase64(w http.ResponseWriter, mediaType string, der []byte) {
	h := w.Header()
	h.Set("Content-Type", mediaType)
	h.Set("Content-Transfer-Encoding", "base64")
	w.WriteHeader(http.StatusOK)
	w.Write(base64Lines(der))
}

// certsOnly encodes certificates as a degenerate PKCS#7 SignedData: no
// content, no signers, only certificates (RFC 5272 section 4.1).
func certsOnly(certs ...*x509.Certificate) ([]byte, error) {
	var raw []byte
	for _, c := range certs {
		raw = append(raw, c.Raw...)
	}
	der, err := pkcs7.DegenerateCertificate(raw)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "encode certs-only PKCS#7")
	}
	return der, nil
}
