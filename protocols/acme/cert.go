package acme

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// Certificates: download (RFC 8555 section 7.4.2) and revocation (7.6).

// certificate is POST-as-GET of an order's certificate: the leaf and the
// CAs above it, without the self-signed root, as PEM. There is one chain
// per CA, so no Link rel="alternate".
func (s *Server) certificate(ctx context.Context, req *request) (*response, error) {
	o, err := s.ownOrder(ctx, req)
	if err != nil {
		return nil, probNotFound("no such certificate")
	}
	if o.Status != storage.ACMEValid || o.CertSerial == "" {
		return nil, probNotFound("no such certificate")
	}
	if !req.postAsGet {
		return nil, malformed("a certificate is fetched with POST-as-GET (empty payload)")
	}
	b, err := s.ca.Bundle(ctx, o.CertSerial)
	if err != nil {
		return nil, err
	}
	certs := []*x509.Certificate{b.Cert}
	for _, c := range b.Chain {
		// The root is the relying party's trust anchor. The chain is the
		// gateway's own hierarchy, checked when it was loaded, so its name
		// is enough to tell the root (a self-issued key rollover
		// certificate would carry its issuer's key identifier); checking
		// the root's signature again cost more than the rest of the
		// download.
		if bytes.Equal(c.RawIssuer, c.RawSubject) && (len(c.AuthorityKeyId) == 0 || bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId)) {
			continue
		}
		certs = append(certs, c)
	}
	return &response{status: http.StatusOK, raw: ca.PEMChain(certs...), contentType: "application/pem-certificate-chain"}, nil
}

// revocable are the reason codes an ACME client may give, as Boulder
// accepts: unspecified, keyCompromise, affiliationChanged, superseded,
// cessationOfOperation (RFC 5280 section 5.3.1). The others are the CA's.
var revocable = map[int]bool{0: true, 1: true, 3: true, 4: true, 5: true}

// revokeCert revokes a certificate this gateway issued, asked either by the
// account that ordered it (kid) or by whoever holds its key (jwk).
func (s *Server) revokeCert(ctx context.Context, req *request) (*response, error) {
	var p struct {
		Certificate string `json:"certificate"`
		Reason      *int   `json:"reason"`
	}
	if err := decodePayload(req, &p); err != nil {
		return nil, err
	}
	der, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(p.Certificate, "="))
	if err != nil || len(der) == 0 {
		return nil, malformed("certificate is not base64url-encoded DER")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, malformed("certificate cannot be parsed")
	}
	reason := 0
	if p.Reason != nil {
		reason = *p.Reason
	}
	if !revocable[reason] {
		return nil, prob(probBadRevocationReason, http.StatusBadRequest, "reason %d is not accepted (0, 1, 3, 4, 5)", reason)
	}
	serial := ca.SerialHex(cert.SerialNumber)
	b, err := s.ca.Bundle(ctx, serial)
	// The DER must be ours byte for byte: a certificate forged with one of
	// our serials and the forger's key must not revoke the real one.
	if errs.Is(err, errs.NotFound) || errs.Is(err, errs.Conflict) || err == nil && !bytes.Equal(b.Record.DER, der) {
		return nil, probNotFound("no such certificate was issued here")
	}
	if err != nil {
		return nil, err
	}
	var who string
	if req.account != nil {
		if b.Record.Method != "acme" || b.Record.Requester != requester(req.account.ID) {
			return nil, unauthorized("this account did not order the certificate")
		}
		who = requester(req.account.ID)
	} else {
		if !samePublicKey(req.jwk, cert) {
			return nil, unauthorized("the JWS is not signed by the certificate's key")
		}
		who = "acme:certificate-key"
	}
	if b.Record.Status == storage.StatusRevoked {
		return nil, prob(probAlreadyRevoked, http.StatusBadRequest, "certificate is already revoked")
	}
	if err := s.ca.Revoke(ctx, serial, reason, who); err != nil {
		if errs.Is(err, errs.Conflict) {
			return nil, prob(probAlreadyRevoked, http.StatusBadRequest, "certificate is already revoked")
		}
		return nil, err
	}
	return &response{status: http.StatusOK, raw: []byte{}, contentType: "application/json"}, nil
}

func samePublicKey(k *jose.JSONWebKey, cert *x509.Certificate) bool {
	type equaler interface{ Equal(x crypto.PublicKey) bool }
	e, ok := cert.PublicKey.(equaler)
	return ok && e.Equal(k.Key)
}
