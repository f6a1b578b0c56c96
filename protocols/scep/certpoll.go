package scep

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"log/slog"
	"net/http"

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
	if err := p7.Verify(); err != nil {
		s.fail(w, r, errs.Wrap(errs.Malformed, err, "the CertPoll's signature does not verify"))
		return
	}
	var tid scep.TransactionID
	var nonce scep.SenderNonce
	if err := p7.UnmarshalSignedAttribute(oidTransactionID, &tid); err != nil || tid == "" {
		s.fail(w, r, errs.New(errs.Malformed, "the CertPoll carries no transactionID"))
		return
	}
	if err := p7.UnmarshalSignedAttribute(oidSenderNonce, &nonce); err != nil || len(nonce) == 0 {
		s.fail(w, r, errs.New(errs.Malformed, "the CertPoll carries no senderNonce"))
		return
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		s.fail(w, r, errs.New(errs.Malformed, "the CertPoll must carry exactly one signer and its certificate"))
		return
	}
	answer := func(rep reply, why error) {
		rep.transactionID, rep.requestNonce, rep.recipient = tid, nonce, signer
		if why != nil {
			s.log.LogAttrs(ctx, slog.LevelInfo, "SCEP CertPoll refused", slog.String("profile", ps.name),
				slog.String("transaction", string(tid)), slog.String("fail_info", rep.failInfo.String()), slog.String("reason", why.Error()))
		}
		der, err := rep.sign(cur.cert, cur.key.WithContext(ctx))
		if err != nil {
			s.fail(w, r, errs.Wrap(errs.KindOf(err), err, "scep: sign a CertRep"))
			return
		}
		writeMessage(w, der)
	}
	if _, ok := signer.PublicKey.(*rsa.PublicKey); !ok {
		answer(reply{status: scep.FAILURE, failInfo: scep.BadAlg}, errs.New(errs.Malformed, "the signer certificate's key is not RSA: SCEP answers are encrypted to it"))
		return
	}
	req, err := s.core.SCEPRequest(ctx, ps.name, string(tid))
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
		// The certificate exists: the answer must not be cut short by a
		// client that hangs up.
		ctx = context.WithoutCancel(ctx)
		answer(reply{status: scep.SUCCESS, issued: issued.Cert}, nil)
	case k == errs.Unavailable || k == errs.Internal:
		s.fail(w, r, err)
	default: // rejected, or its issuance failed: the device must enroll anew
		answer(reply{status: scep.FAILURE, failInfo: scep.BadRequest}, err)
	}
}
