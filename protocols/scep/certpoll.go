package scep

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"log/slog"
	"net/http"
	"strings"

	"github.com/smallstep/pkcs7"
	"github.com/smallstep/scep"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
)

// certPoll answers a CertPoll (RFC 8894 section 3.3.2; GetCertInitial in
// older drafts): a device told PENDING asks after its request, named by
// the transactionID of its PKCSReq. The poll must be signed with the key
// the request's CSR certifies, as the PKCSReq was (its self-signed
// certificate, or an earlier certificate for that key), so no one else
// learns the request's fate; the answer is what a resent PKCSReq would
// get: PENDING, SUCCESS with the certificate, or FAILURE. The
// IssuerAndSubject in the poll's envelope is not needed to find the
// request and is not read. p7 is the parsed message; its signature is not
// verified yet.
func (s *Server) certPoll(w http.ResponseWriter, r *http.Request, ps *profileState, cur *ra, p7 *pkcs7.PKCS7) {
	ctx := r.Context()
	sr, answer, ok := s.readSigned(w, r, ps, cur, p7, scep.CertPoll)
	if !ok {
		return
	}
	tid, signer := sr.transactionID, sr.signer
	req, err := s.core.TransactionRequest(ctx, ps.name, string(tid))
	if errs.Is(err, errs.NotFound) {
		answer(reply{status: scep.FAILURE, failInfo: scep.BadCertID}, errs.New(errs.NotFound, "no request with this transactionID"))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	csr, err := x509.ParseCertificateRequest(req.CSR)
	if err != nil {
		s.fail(w, r, errs.Wrap(errs.Internal, err, "stored CSR of request %s", req.ID))
		return
	}
	if k, ok := csr.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(signer.PublicKey) {
		answer(reply{status: scep.FAILURE, failInfo: scep.BadMessageCheck}, errs.New(errs.Forbidden, "the CertPoll is not signed with the key of request %s", req.ID))
		return
	}
	issued, err := s.core.Answer(ctx, req)
	if _, ok := ca.AsPending(err); ok {
		answer(reply{status: scep.PENDING}, nil)
		return
	}
	switch k := errs.KindOf(err); {
	case err == nil:
		s.log.Info("approved request polled", "protocol", "scep", "profile", ps.name, "request", req.ID, "serial", issued.Serial)
		answer(reply{status: scep.SUCCESS, issued: issued.Cert}, nil)
	case k == errs.Unavailable || k == errs.Internal:
		s.fail(w, r, err)
	default: // rejected, or its issuance failed: the device must enroll anew
		answer(reply{status: scep.FAILURE, failInfo: scep.BadRequest}, err)
	}
}

// signedRequest is what every message the gateway reads itself (not
// through the scep library) carries: a transactionID, a senderNonce, and
// exactly one signer with its certificate, the signature checked.
type signedRequest struct {
	typ           scep.MessageType
	transactionID scep.TransactionID
	nonce         scep.SenderNonce
	signer        *x509.Certificate
}

// signedRequest checks p7's signature and reads its SCEP attributes; a
// message without them cannot be answered in kind, so it gets a 400 and
// false.
func (s *Server) signedRequest(w http.ResponseWriter, r *http.Request, p7 *pkcs7.PKCS7, typ scep.MessageType) (signedRequest, bool) {
	name := messageName(typ)
	req := signedRequest{typ: typ}
	if err := p7.Verify(); err != nil {
		s.fail(w, r, errs.Wrap(errs.Malformed, err, "the %s's signature does not verify", name))
		return req, false
	}
	if err := p7.UnmarshalSignedAttribute(oidTransactionID, &req.transactionID); err != nil || req.transactionID == "" {
		s.fail(w, r, errs.New(errs.Malformed, "the %s carries no transactionID", name))
		return req, false
	}
	if err := p7.UnmarshalSignedAttribute(oidSenderNonce, &req.nonce); err != nil || len(req.nonce) == 0 {
		s.fail(w, r, errs.New(errs.Malformed, "the %s carries no senderNonce", name))
		return req, false
	}
	if req.signer = p7.GetOnlySigner(); req.signer == nil {
		s.fail(w, r, errs.New(errs.Malformed, "the %s must carry exactly one signer and its certificate", name))
		return req, false
	}
	return req, true
}

// readSigned is what CertPoll, GetCert and GetCRL begin with: the message
// read (signedRequest), the function that answers it in kind (answerer),
// and a badAlg answer for a signer whose key cannot receive one. ok is
// false once the message was answered.
func (s *Server) readSigned(w http.ResponseWriter, r *http.Request, ps *profileState, cur *ra, p7 *pkcs7.PKCS7, typ scep.MessageType) (signedRequest, func(reply, error), bool) {
	req, ok := s.signedRequest(w, r, p7, typ)
	if !ok {
		return req, nil, false
	}
	answer := s.answerer(w, r, ps, cur, req)
	if !hasRSAKey(req.signer) {
		answer(reply{status: scep.FAILURE, failInfo: scep.BadAlg}, errs.New(errs.Malformed, "the signer certificate's key is not RSA: SCEP answers are encrypted to it"))
		return req, nil, false
	}
	return req, answer, true
}

// answerer writes the CertRep to req, signed by the RA; why, for a
// refusal, is logged. The answer is signed even if the client hung up
// meanwhile: once decided (a certificate handed out) it is written whole.
func (s *Server) answerer(w http.ResponseWriter, r *http.Request, ps *profileState, cur *ra, req signedRequest) func(rep reply, why error) {
	return func(rep reply, why error) {
		ctx := context.WithoutCancel(r.Context())
		rep.transactionID, rep.requestNonce, rep.recipient = req.transactionID, req.nonce, req.signer
		if why != nil {
			s.log.LogAttrs(ctx, slog.LevelInfo, "SCEP "+messageName(req.typ)+" refused", slog.String("profile", ps.name),
				slog.String("transaction", string(req.transactionID)), slog.String("fail_info", rep.failInfo.String()), slog.String("reason", why.Error()))
		}
		der, err := rep.sign(cur.cert, cur.key.WithContext(ctx))
		if err != nil {
			s.fail(w, r, errs.Wrap(errs.KindOf(err), err, "scep: sign a CertRep"))
			return
		}
		writeMessage(w, der)
	}
}

// hasRSAKey reports whether cert's key is RSA: SCEP answers are
// encrypted to the requester's certificate, with RSA key transport.
func hasRSAKey(cert *x509.Certificate) bool {
	_, ok := cert.PublicKey.(*rsa.PublicKey)
	return ok
}

// messageName is a message type's name alone ("CertPoll", where the scep
// library says "CertPoll (20)").
func messageName(typ scep.MessageType) string {
	name, _, _ := strings.Cut(typ.String(), " ")
	return name
}
