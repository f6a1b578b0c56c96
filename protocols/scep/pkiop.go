package scep

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net/http"

	"github.com/smallstep/pkcs7"
	"github.com/smallstep/scep"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/internal/ratelimit"
	"github.com/certgw/gateway/protocols/internal/throttle"
	"github.com/certgw/gateway/storage"
)

// pkiOperation answers a PKCSReq or a RenewalReq (RFC 8894 section 3.3.1),
// a CertPoll (certPoll), or a GetCert or GetCRL (access), with a CertRep: SUCCESS with the certificate, encrypted to the device's
// signer certificate, or FAILURE with a failInfo. A message that does not
// parse, or whose signature does not verify, cannot be answered in kind
// and gets a 400.
func (s *Server) pkiOperation(w http.ResponseWriter, r *http.Request, ps *profileState, der []byte) {
	ctx := r.Context()
	ra, err := ps.ra.current(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		s.fail(w, r, errs.Wrap(errs.Malformed, err, "the pkiMessage does not parse"))
		return
	}
	// CertPoll, GetCert and GetCRL are for the gateway to read: the scep
	// library parses only the requests that carry a CSR.
	var typ scep.MessageType
	if p7.UnmarshalSignedAttribute(oidMessageType, &typ) == nil {
		switch typ {
		case scep.CertPoll:
			s.certPoll(w, r, ps, ra, p7)
			return
		case scep.GetCert, scep.GetCRL:
			s.access(w, r, ps, ra, p7, typ)
			return
		}
	}
	msg, err := scep.ParsePKIMessage(der)
	if err != nil {
		s.fail(w, r, errs.Wrap(errs.Malformed, err, "the pkiMessage does not parse as a signed PKCSReq or RenewalReq"))
		return
	}
	// The library checked the signature with the signer certificate the
	// message carries; the server needs that certificate itself (the
	// answer is encrypted to it, a renewal is authenticated by it).
	signerCert := p7.GetOnlySigner()
	if signerCert == nil {
		s.fail(w, r, errs.New(errs.Malformed, "the pkiMessage must carry exactly one signer and its certificate"))
		return
	}
	refuse := func(info scep.FailInfo, reason error) {
		s.log.LogAttrs(ctx, slog.LevelInfo, "SCEP request refused", slog.String("profile", ps.name),
			slog.String("message_type", msg.MessageType.String()), slog.String("transaction", string(msg.TransactionID)),
			slog.String("fail_info", info.String()), slog.String("reason", reason.Error()))
		rep, err := msg.Fail(ra.cert, ra.key.WithContext(ctx), info)
		if err != nil {
			s.fail(w, r, errs.Wrap(errs.KindOf(err), err, "scep: sign a CertRep"))
			return
		}
		writeMessage(w, rep.Raw)
	}
	if !hasRSAKey(signerCert) {
		refuse(scep.BadAlg, errs.New(errs.Malformed, "the signer certificate's key is not RSA: SCEP answers are encrypted to it"))
		return
	}
	if err := s.decrypt(ctx, msg, ps.ra, ra); err != nil {
		if errs.Is(err, errs.Unavailable) {
			s.fail(w, r, err)
			return
		}
		refuse(scep.BadMessageCheck, errs.Wrap(errs.Malformed, err, "the pkcsPKIEnvelope does not open with the RA key"))
		return
	}
	csr := msg.CSRReqMessage.CSR
	if err := csr.CheckSignature(); err != nil {
		refuse(scep.BadMessageCheck, errs.Wrap(errs.BadCSR, err, "CSR signature"))
		return
	}

	req := ca.IssueRequest{Profile: ps.name, Method: "scep", CheckedCSR: csr, TransactionID: string(msg.TransactionID)}
	switch msg.MessageType {
	case scep.PKCSReq:
		// A client told PENDING may send its PKCSReq again rather than
		// poll (CertPoll, RFC 8894 section 3.3.2), as the micromdm
		// client does: its request passed the challenge, which is
		// spent, and the core answers from the request.
		if prev, err := s.core.HeldRequest(ctx, ps.name, csr); err == nil && prev.Status != storage.RequestFailed && prev.Status != storage.RequestExpired {
			req.Requester = prev.Requester
			break
		} else if err != nil && !errs.Is(err, errs.NotFound) {
			s.fail(w, r, err)
			return
		}
		// The rate limit counts by subject, as SCEP requests name no
		// user. A new request past it is refused before its challenge is
		// spent; only one that passes the challenge spends an issuance,
		// so requests without credentials cannot spend a device's (a
		// repeat while held, above, spends none).
		if err := s.limiter.Check(ratelimit.Subject(ps.name, csr.Subject), s.now()); err != nil {
			s.fail(w, r, err)
			return
		}
		requester, err := s.checkChallenge(ctx, ps, throttle.ClientAddr(r), msg.CSRReqMessage.ChallengePassword, csr)
		if err != nil {
			if k := errs.KindOf(err); k == errs.Unavailable || k == errs.Internal {
				s.fail(w, r, err)
			} else {
				refuse(scep.BadRequest, err)
			}
			return
		}
		if err := s.limiter.Take(ratelimit.Subject(ps.name, csr.Subject), s.now()); err != nil {
			s.fail(w, r, err)
			return
		}
		req.Requester = requester
	case scep.RenewalReq, scep.UpdateReq:
		rec, err := s.renewed(ctx, ps, signerCert, csr)
		if err != nil {
			if k := errs.KindOf(err); k == errs.Unavailable || k == errs.Internal {
				s.fail(w, r, err)
			} else {
				refuse(scep.BadRequest, err)
			}
			return
		}
		// Spent once the certificate it renews is verified.
		if err := s.limiter.Take(ratelimit.Subject(ps.name, csr.Subject), s.now()); err != nil {
			s.fail(w, r, err)
			return
		}
		req.Requester, req.Replaces = "cert:"+rec.Serial, rec.Serial
	default:
		refuse(scep.BadRequest, errs.New(errs.Malformed, "message type %s is not served", msg.MessageType))
		return
	}
	issued, err := s.core.Issue(ctx, req)
	if p, ok := ca.AsPending(err); ok {
		s.log.Info("enrollment held for approval", "protocol", "scep", "profile", ps.name, "requester", req.Requester,
			"request", p.Request.ID, "transaction", string(msg.TransactionID))
		rep, err := reply{transactionID: msg.TransactionID, requestNonce: msg.SenderNonce, status: scep.PENDING}.sign(ra.cert, ra.key.WithContext(ctx))
		if err != nil {
			s.fail(w, r, errs.Wrap(errs.KindOf(err), err, "scep: sign a pending CertRep"))
			return
		}
		writeMessage(w, rep)
		return
	}
	if err != nil {
		switch errs.KindOf(err) {
		case errs.Unavailable, errs.Internal, errs.Config:
			s.fail(w, r, err)
		default:
			refuse(scep.BadRequest, err)
		}
		return
	}
	msgText := "issuance granted"
	if issued.Earlier {
		msgText = "approved request repeated"
	}
	s.log.Info(msgText, "protocol", "scep", "profile", ps.name, "requester", req.Requester,
		"serial", issued.Serial, "replaces", req.Replaces, "transaction", string(msg.TransactionID), "not_after", issued.Cert.NotAfter)
	// The certificate is issued: what follows must not be cut short by a
	// client that hangs up.
	ctx = context.WithoutCancel(ctx)
	if req.Replaces != "" {
		s.core.Renewed(ctx, req.Replaces, issued.Serial, req.Requester, ps.set.RevokeOnRenewal)
	}
	rep, err := msg.Success(ra.cert, ra.key.WithContext(ctx), issued.Cert)
	if err != nil {
		s.fail(w, r, errs.Wrap(errs.KindOf(err), err, "scep: CertRep of certificate %s", issued.Serial))
		return
	}
	writeMessage(w, rep.Raw)
}

// writeMessage answers a pkiMessage (RFC 8894 section 4.3).
func writeMessage(w http.ResponseWriter, der []byte) {
	w.Header().Set("Content-Type", "application/x-pki-message")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(der)
}

// renewed authenticates a RenewalReq: its signer certificate must chain
// to a gateway CA, be an active certificate of this profile in the
// inventory, and name what the CSR names (common name and SANs: the
// gateway takes nothing else from a CSR).
func (s *Server) renewed(ctx context.Context, ps *profileState, cert *x509.Certificate, csr *x509.CertificateRequest) (storage.Certificate, error) {
	roots, err := s.gateway.Get()
	if err != nil {
		return storage.Certificate{}, err
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: s.now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return storage.Certificate{}, errs.Wrap(errs.Unauthorized, err, "the renewal is signed by %q, which is not a valid certificate of this gateway", cert.Subject.String())
	}
	rec, err := ca.IssuedRecord(ctx, s.store, cert, ps.name)
	if err != nil {
		return rec, err
	}
	return rec, ca.KeepsNames(cert, csr)
}
