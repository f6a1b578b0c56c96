// Package cmp is a Certificate Management Protocol server (CMP, RFC 9810,
// in the Lightweight CMP profile of RFC 9483), mounted at
// /.well-known/cmp/p/PROFILE (RFC 9811) on the HTTP and HTTPS listeners,
// for the industrial and telecom devices that enroll with CMP rather
// than EST or SCEP.
//
// # Messages
//
//	p10cr    a PKCS#10 request           → cp
//	ir, cr   a CRMF request (RFC 4211)  → ip, cp
//	kur      a CRMF request naming the certificate it updates (oldCertID)
//	         → kup: its successor, as a renewal (ca.Core.Renew)
//	rr       revoke a certificate of the profile  → rp
//	genm     caCerts: the issuing CA's certificate and those above it → genp
//	certConf the client confirms         → pkiconf
//
// A request that asks for implicit confirmation gets it (implicitConfirm
// in the answer's generalInfo) and needs no certConf; a certConf that
// rejects a certificate issued over CMP within 15 minutes revokes it,
// whichever replica answered it (Config.Shared). A CRMF request must
// carry its public key and prove possession with a signature by it; the
// profile decides everything else, as for every method. Other messages
// are answered with an error naming them. A profile that holds
// cmp requests for approval answers first enrollments (ir, cr, p10cr)
// "waiting"; the client polls (pollReq → pollRep, then the ip or cp). A
// held ir or cr keeps its CertReqMessages, whose proof of possession the
// issuance after the approval checks again (ParseRequest, registered
// with the core as its RequestParser for cmp).
//
// # Protection
//
// A request is protected with the profile's shared secret
// (PasswordBasedMac, RFC 9810 5.1.3.1), named by senderKID = the
// profile's cmp.reference, and its answer the same way, with a fresh
// salt. A device may instead sign its kur, rr and certConf with the key
// of its certificate (an active certificate of the profile, sent first in
// extraCerts): it may then update or revoke that certificate only, and
// the answer is signed by the issuing CA (its certificate first in
// extraCerts, senderKID its key identifier). A request that is not
// protected so, or whose protection does not verify, gets an unprotected
// error (badAlg, badMessageCheck): it proves nothing, and a MAC under the
// secret would help an attacker guess it; ten such failures of one
// address within ten minutes make the profile refuse its requests
// unchecked for a while.
//
// # Errors
//
// A request that parses gets a PKIMessage error body (HTTP 200, RFC 9811
// 3.3) with a PKIStatusInfo: rejection, a failInfo bit and a line of text.
// Anything else is an HTTP status with a line of text: 400 for a message
// that does not parse, 404 for a profile without CMP, 413 for one over
// 64 KiB, 415 for another content type.
package cmp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/internal/ratelimit"
	"github.com/certgw/gateway/internal/ttlcache"
	"github.com/certgw/gateway/protocols/internal/textanswer"
	"github.com/certgw/gateway/protocols/internal/throttle"
	"github.com/certgw/gateway/storage"
)

// ContentType is the media type of CMP messages (RFC 9811 3.4).
const ContentType = "application/pkixcmp"

// ProfileSettings is the CMP part of a profile.
type ProfileSettings struct {
	// Reference is the senderKID the requests name the secret by.
	Reference string
	// Secret is the shared secret of PasswordBasedMac.
	Secret []byte
	// CA is the profile's issuing CA: the sender of the answers, and the
	// key that signs those to signature-protected requests.
	CA *ca.Authority
}

// CA is what the CMP server asks of the issuance core.
type CA interface {
	Issue(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error)
	Revoke(ctx context.Context, serial string, reason int, requester string) error
	Renew(ctx context.Context, req ca.RenewRequest) (*ca.Issued, error)
	Certificate(ctx context.Context, serial string) (*ca.Bundle, error)
	// Requests held for approval, found again by transactionID.
	TransactionRequest(ctx context.Context, profile, transactionID string) (storage.Request, error)
	Answer(ctx context.Context, r storage.Request) (*ca.Issued, error)
}

var _ CA = (*ca.Core)(nil)

// Config holds the dependencies of the server.
type Config struct {
	CA       CA
	Profiles map[string]ProfileSettings // the profiles that allow "cmp"
	// Failures, if set, counts the requests whose protection failed where
	// every replica sees them (the store).
	Failures throttle.Shared
	// Shared, if set, is the store the replicas share: a senderNonce seen
	// by one is refused by all, and a certConf that rejects a certificate
	// is honoured by whichever replica it reaches.
	Shared Shared
	// Limiter, if set, is the issuance rate limit
	// (cmp.issuances_per_minute, package ratelimit), by the CSR's
	// subject; more is a rejection with systemUnavail naming the wait.
	// nil: no limit.
	Limiter *ratelimit.Limiter
	Log     *slog.Logger
	Now     func() time.Time
}

// Shared is what the CMP server keeps where every replica sees it.
type Shared interface {
	// InsertACMENonce keeps a single-use value until expires (the
	// store's nonces, ACME's and CMP's senderNonces); errs.Conflict if it
	// is kept already.
	InsertACMENonce(ctx context.Context, nonce string, expires time.Time) error
	// ListCertificates finds a certificate issued over CMP lately, for a
	// certConf that names it by its hash only.
	ListCertificates(ctx context.Context, f storage.CertificateFilter) ([]storage.Certificate, string, error)
}

// Server serves CMP for the profiles that allow it.
type Server struct {
	ca       CA
	profiles map[string]ProfileSettings
	log      *slog.Logger
	now      func() time.Time
	// confirming maps the hashes of the certificates this process
	// answered (certHash, hex) to their serials, for the certConf that
	// rejects one.
	confirming ttlcache.Cache[string, string]
	// failed counts the requests whose protection failed, by profile and
	// client address.
	failed *throttle.Failures
	// nonces are the senderNonces of the requests this process
	// answered lately: a request sent again is refused, not answered
	// twice. shared, if set, keeps them for every replica.
	nonces ttlcache.Cache[string, bool]
	shared Shared
	// limiter is Config.Limiter.
	limiter *ratelimit.Limiter
}

// maxClockSkew bounds how far a request's messageTime may be from the
// gateway's clock, and how long its senderNonce is remembered.
const maxClockSkew = 10 * time.Minute

// After maxFailures requests of one address whose protection failed
// within failureWindow, the profile refuses its requests unchecked until
// the oldest failure is failureWindow old: the shared secret cannot be
// guessed at line speed, nor the gateway kept busy with the
// PasswordBasedMac's iterations.
const (
	maxFailures   = 10
	failureWindow = 10 * time.Minute
)

// New builds a Server.
func New(c Config) *Server {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Server{ca: c.CA, profiles: c.Profiles, log: c.Log, now: c.Now, shared: c.Shared,
		limiter:    c.Limiter,
		confirming: ttlcache.Cache[string, string]{TTL: confirmWait, Max: 100000},
		failed:     &throttle.Failures{Max: maxFailures, Window: failureWindow, Shared: c.Failures, Scope: "cmp"},
		nonces:     ttlcache.Cache[string, bool]{TTL: 2 * maxClockSkew, Max: 1_000_000}}
}

// Routes mounts /.well-known/cmp/p/{profile}.
func (s *Server) Routes(r chi.Router) {
	r.Post("/.well-known/cmp/p/{profile}", s.serve)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	profile := chi.URLParam(r, "profile")
	set, ok := s.profiles[profile]
	if !ok {
		textanswer.Fail(w, r, s.log, "CMP", errs.New(errs.NotFound, "no profile %q serves CMP", profile))
		return
	}
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); !strings.EqualFold(strings.TrimSpace(ct), ContentType) {
		textanswer.Fail(w, r, s.log, "CMP", errs.New(errs.Malformed, "Content-Type %q: a CMP request is %s", r.Header.Get("Content-Type"), ContentType))
		return
	}
	der, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxMessage))
	if err != nil {
		textanswer.Fail(w, r, s.log, "CMP", errs.Wrap(errs.Malformed, err, "read the request (at most 64 KiB)"))
		return
	}
	req, err := parseMessage(der)
	if err != nil {
		textanswer.Fail(w, r, s.log, "CMP", errs.Wrap(errs.Malformed, err, "CMP request"))
		return
	}
	log := s.log.With("profile", profile, "body", bodyName(req.bodyTag), "transaction", hex.EncodeToString(req.transactionID))
	key, now := profile+" "+throttle.ClientAddr(r), s.now()
	if s.failed.Blocked(r.Context(), key, now) {
		log.Info("cmp request refused unchecked", "addr", throttle.ClientAddr(r))
		s.answer(w, r, req, set, sender{}, errorBody(fmt.Sprintf("too many requests from %s failed their protection lately: try again in %s", throttle.ClientAddr(r), failureWindow), failBadMessageCheck), nil, false)
		return
	}
	who, err := s.authenticate(r.Context(), profile, req, set)
	if err != nil {
		log.Info("cmp request refused", "err", err)
		fail := failBadMessageCheck
		if errors.Is(err, errBadAlg) {
			fail = failBadAlg
		} else if ferr := s.failed.Add(r.Context(), key, now); ferr != nil {
			log.Warn("cmp: the failure is counted here only", "err", ferr)
		}
		s.answer(w, r, req, set, sender{}, errorBody(err.Error(), fail), nil, false)
		return
	}
	// A request sent again (a replay, or a client's retry) is refused:
	// its nonce was seen; one whose time is far from ours too (RFC 9483
	// 3.1, 3.5).
	if t := req.messageTime; !t.IsZero() && (t.Before(now.Add(-maxClockSkew)) || t.After(now.Add(maxClockSkew))) {
		s.answer(w, r, req, set, who, errorBody(fmt.Sprintf("messageTime %s is more than %s from the gateway's clock", t.UTC().Format(time.RFC3339), maxClockSkew), failBadTime), nil, false)
		return
	}
	switch fresh, err := s.freshNonce(r.Context(), profile, req.senderNonce, now); {
	case err != nil:
		log.Error("cmp: the senderNonce could not be recorded", "err", err)
		s.answer(w, r, req, set, who, errorBody("the gateway cannot record the request now; try again later", failSystemUnavail), nil, false)
		return
	case !fresh:
		s.answer(w, r, req, set, who, errorBody("this senderNonce was used before: a request is sent once, with a fresh nonce", failBadSenderNonce), nil, false)
		return
	}
	body, extra, implicit := s.handle(r.Context(), log, profile, set, who, req)
	s.answer(w, r, req, set, who, body, extra, implicit)
}

// freshNonce records the senderNonce of a request to profile and reports
// whether it is new: not seen by this process, nor by another replica
// (the store) within twice the clock skew allowed.
func (s *Server) freshNonce(ctx context.Context, profile string, nonce []byte, now time.Time) (bool, error) {
	key := "cmp " + profile + " " + hex.EncodeToString(nonce)
	if _, seen := s.nonces.Get(key, now); seen {
		return false, nil
	}
	s.nonces.Put(key, true, now)
	if s.shared == nil {
		return true, nil
	}
	switch err := s.shared.InsertACMENonce(ctx, key, now.Add(2*maxClockSkew)); {
	case errs.Is(err, errs.Conflict):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// sender is who protected a request: the holder of the profile's shared
// secret (mac), or of one of its certificates (serial), which signed it.
// The zero value is nobody: the answer goes unprotected.
type sender struct {
	mac    *pbm
	serial string
}

// authenticate checks the request's protection: a MAC with the profile's
// shared secret, or a signature by the key of an active certificate of
// the profile, sent first in extraCerts.
func (s *Server) authenticate(ctx context.Context, profile string, req *message, set ProfileSettings) (sender, error) {
	if len(req.transactionID) == 0 || len(req.senderNonce) == 0 {
		return sender{}, errors.New("transactionID and senderNonce are required (RFC 9483 3.1)")
	}
	if !req.hasProof {
		return sender{}, fmt.Errorf("%w: the request is not protected", errBadAlg)
	}
	if req.protectionAlg != nil {
		if _, ok := sigAlgs[req.protectionAlg.Algorithm.String()]; ok {
			serial, err := s.signedBy(ctx, profile, req)
			return sender{serial: serial}, err
		}
	}
	p, err := parsePBM(req.protectionAlg)
	if err != nil {
		return sender{}, err
	}
	if string(req.senderKID) != set.Reference {
		return sender{}, errors.New("senderKID names no shared secret of this profile (cmp.reference)")
	}
	if !hmac.Equal(p.sum(set.Secret, protectedPart(req.header, req.bodyDER)), req.protect.RightAlign()) {
		return sender{}, errors.New("the protection does not verify with the profile's shared secret")
	}
	return sender{mac: p}, nil
}

// signedBy checks a signature protection: the first of extraCerts is an
// active certificate of the profile, as the inventory has it, and its key
// signed the request. It returns that certificate's serial.
func (s *Server) signedBy(ctx context.Context, profile string, req *message) (string, error) {
	if len(req.extraCerts) == 0 {
		return "", errors.New("a signed request sends its certificate first in extraCerts")
	}
	cert, err := x509.ParseCertificate(req.extraCerts[0])
	if err != nil {
		return "", fmt.Errorf("the protection's certificate does not parse: %v", err)
	}
	serial := ca.SerialHex(cert.SerialNumber)
	b, err := s.ca.Certificate(ctx, serial)
	switch {
	case err != nil || b.Record.Profile != profile || !bytes.Equal(b.Record.DER, cert.Raw):
		return "", fmt.Errorf("the protection's certificate %s is not one of profile %s", serial, profile)
	case b.Record.Status != storage.StatusActive:
		return "", fmt.Errorf("the protection's certificate %s is %s", serial, b.Record.Status)
	case !s.now().Before(cert.NotAfter):
		return "", fmt.Errorf("the protection's certificate %s has expired", serial)
	}
	if err := verifySignature(req.protectionAlg.Algorithm, cert.PublicKey, protectedPart(req.header, req.bodyDER), req.protect.RightAlign()); err != nil {
		return "", fmt.Errorf("the protection does not verify with certificate %s: %v", serial, err)
	}
	return serial, nil
}

// handle answers an authenticated request: the body of the answer, the
// certificates to send along, and whether implicit confirmation was
// granted.
func (s *Server) handle(ctx context.Context, log *slog.Logger, profile string, set ProfileSettings, who sender, req *message) (body []byte, extra [][]byte, implicit bool) {
	// A certificate's holder may update or revoke that certificate, confirm,
	// and ask for the CA certificates; enrolling new ones takes the shared
	// secret.
	if who.serial != "" && req.bodyTag != bodyKUR && req.bodyTag != bodyRR && req.bodyTag != bodyCertConf && req.bodyTag != bodyGenM {
		return errorBody(bodyName(req.bodyTag)+" requests are protected with the profile's shared secret; a certificate's signature protects kur, rr and certConf", failNotAuthorized), nil, false
	}
	var (
		csr   *x509.CertificateRequest
		reqID int
		err   error
	)
	switch req.bodyTag {
	case bodyP10CR:
		reqID = -1 // RFC 9483 4.1.4: a p10cr's answer names no request
		if csr, err = x509.ParseCertificateRequest(req.body); err == nil {
			if err = csr.CheckSignature(); err != nil {
				log.Info("cmp p10cr refused", "err", err)
				return errorBody("the CSR's signature does not verify: "+err.Error(), failBadPOP), nil, false
			}
		} else {
			log.Info("cmp p10cr refused", "err", err)
			return errorBody("the CSR does not parse: "+err.Error(), failBadDataFormat), nil, false
		}
	case bodyIR, bodyCR, bodyKUR:
		cr, err := parseCertReqMessages(req.body)
		if err != nil {
			log.Info("cmp request refused", "err", err)
			fail := failBadCertTemplate
			if errors.Is(err, errBadPOP) {
				fail = failBadPOP
			}
			return errorBody(err.Error(), fail), nil, false
		}
		reqID, csr = cr.id, cr.csr
		if req.bodyTag == bodyKUR {
			if cr.oldSerial == nil {
				return errorBody("a kur names the certificate it updates (control oldCertID)", failBadCertTemplate), nil, false
			}
			old := ca.SerialHex(cr.oldSerial)
			if who.serial != "" && who.serial != old {
				return errorBody("a certificate's signature updates that certificate, not "+old, failNotAuthorized), nil, false
			}
			if body, limited := s.limit(log, profile, csr); limited {
				return body, nil, false
			}
			issued, err := s.ca.Renew(ctx, ca.RenewRequest{Serial: old, Profile: profile, Method: "cmp", Requester: "cmp:" + set.Reference, CheckedCSR: csr})
			return s.answered(log, req, answerTo[req.bodyTag], reqID, issued, err)
		}
	case bodyRR:
		return s.revoke(ctx, log, profile, set, who, req.body), nil, false
	case bodyPollReq:
		return s.poll(ctx, log, profile, req)
	case bodyGenM:
		types, err := parseGenM(req.body)
		if err != nil {
			return errorBody(err.Error(), failBadRequest), nil, false
		}
		var caCerts [][]byte
		for _, t := range types {
			if t.Equal(oidCACerts) {
				for _, c := range set.CA.Full() {
					caCerts = append(caCerts, c.Raw)
				}
			}
		}
		return genPBody(caCerts), nil, false
	case bodyCertConf:
		if err := s.confirm(ctx, log, profile, set, req.body); err != nil {
			log.Info("cmp certConf refused", "err", err)
			return errorBody(err.Error(), failBadRequest), nil, false
		}
		return pkiConfBody(), nil, false
	default:
		msg := bodyName(req.bodyTag) + " is not supported: send p10cr, ir, cr, kur, rr or genm, and certConf"
		return errorBody(msg, failBadRequest), nil, false
	}
	if body, limited := s.limit(log, profile, csr); limited {
		return body, nil, false
	}
	issued, err := s.ca.Issue(ctx, ca.IssueRequest{Profile: profile, Method: "cmp", Requester: "cmp:" + set.Reference, CheckedCSR: csr,
		TransactionID: pollKey(req.bodyTag, req.transactionID)})
	return s.answered(log, req, answerTo[req.bodyTag], reqID, issued, err)
}

// pollKey is how a request held for approval is found again by a pollReq
// (ca.IssueRequest.TransactionID): the request's type (its answer's type
// follows) and transactionID.
func pollKey(tag int, transactionID []byte) string {
	return "cmp/" + bodyName(tag) + "/" + hex.EncodeToString(transactionID)
}

// answerTo is the body type that answers a request of type tag.
var answerTo = map[int]int{bodyIR: bodyIP, bodyCR: bodyCP, bodyP10CR: bodyCP, bodyKUR: bodyKUP}

// poll answers a pollReq for a request held for approval (RFC 9810
// 5.3.22): pollRep with checkAfter while it waits, then the ip or cp it
// would have got (or its refusal).
func (s *Server) poll(ctx context.Context, log *slog.Logger, profile string, req *message) (body []byte, extra [][]byte, implicit bool) {
	reqID, err := parsePollReq(req.body)
	if err != nil {
		return errorBody(err.Error(), failBadRequest), nil, false
	}
	for _, tag := range []int{bodyIR, bodyCR, bodyP10CR} {
		r, err := s.ca.TransactionRequest(ctx, profile, pollKey(tag, req.transactionID))
		if errs.Is(err, errs.NotFound) {
			continue
		}
		if err == nil {
			issued, err := s.ca.Answer(ctx, r)
			pe, pending := ca.AsPending(err)
			if !pending {
				return s.answered(log, req, answerTo[tag], reqID, issued, err)
			}
			after := max(int(pe.RetryAfter.Seconds()), 1)
			return pollRepBody(reqID, after, "request "+r.ID+" waits for an operator's approval"), nil, false
		}
		log.Info("cmp pollReq failed", "err", err)
		return errorBody(publicText(err), failInfoOf(err)), nil, false
	}
	return errorBody("no request of this profile waits under this transactionID", failBadRequest), nil, false
}

// answered is the answer (body tag answer) to a request the core issued
// or refused (err).
func (s *Server) answered(log *slog.Logger, req *message, answer, reqID int, issued *ca.Issued, err error) (body []byte, extra [][]byte, implicit bool) {
	if pe, ok := ca.AsPending(err); ok {
		log.Info("cmp request held for approval", "request", pe.Request.ID)
		return waitingBody(answer, reqID, "request "+pe.Request.ID+" waits for an operator's approval: poll (pollReq) for it"), nil, false
	}
	if err != nil {
		log.Info("cmp request refused by the core", "err", err)
		return errorBody(publicText(err), failInfoOf(err)), nil, false
	}
	for _, c := range issued.Chain {
		extra = append(extra, c.Raw)
	}
	implicit = req.implicitConfirm()
	if !implicit {
		for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			d := h.New()
			d.Write(issued.Cert.Raw)
			s.confirming.Put(hex.EncodeToString(d.Sum(nil)), issued.Serial, s.now())
		}
	}
	log.Info("cmp certificate issued", "serial", issued.Serial, "implicit_confirm", implicit)
	return certRepBody(answer, reqID, issued.Cert.Raw, nil), extra, implicit
}

// revoke answers an rr: the certificate, of this profile, is revoked with
// the reason asked for (an rp with status accepted), or the rp says why
// not: badCertId for one the profile did not issue, certRevoked for one
// revoked already.
func (s *Server) revoke(ctx context.Context, log *slog.Logger, profile string, set ProfileSettings, who sender, body []byte) []byte {
	rd, err := parseRevReq(body)
	if err != nil {
		log.Info("cmp rr refused", "err", err)
		return revRepBody(statusInfo(statusRejection, err.Error(), failBadRequest))
	}
	serial := ca.SerialHex(rd.serial)
	if who.serial != "" && who.serial != serial {
		return revRepBody(statusInfo(statusRejection, "a certificate's signature revokes that certificate, not "+serial, failNotAuthorized))
	}
	b, err := s.ca.Certificate(ctx, serial)
	if errs.Is(err, errs.NotFound) || err == nil && b.Record.Profile != profile {
		return revRepBody(statusInfo(statusRejection, "no certificate of profile "+profile+" has serial "+serial, failBadCertID))
	}
	if err == nil {
		err = s.ca.Revoke(ctx, serial, rd.reason, "cmp:"+set.Reference)
	}
	switch {
	case errs.Is(err, errs.Conflict):
		return revRepBody(statusInfo(statusRejection, "certificate "+serial+" is revoked already", failCertRevoked))
	case err != nil:
		log.Info("cmp rr refused", "serial", serial, "err", err)
		return revRepBody(statusInfo(statusRejection, publicText(err), failInfoOf(err)))
	}
	log.Info("cmp certificate revoked", "serial", serial, "reason", rd.reason)
	return revRepBody(statusInfo(statusAccepted, "", -1))
}

// confirmWait is how long a certConf may reject a certificate answered
// here (RFC 9483 4.1.1 lets the server wait some time for it).
const confirmWait = 15 * time.Minute

// confirm reads a certConf: a certificate the client rejects (its
// PKIStatusInfo a rejection) is revoked, if this process answered it
// within confirmWait or the shared store holds it as issued over CMP
// since; otherwise the rejection is logged for an operator.
func (s *Server) confirm(ctx context.Context, log *slog.Logger, profile string, set ProfileSettings, body []byte) error {
	statuses, err := parseCertConf(body)
	if err != nil {
		return err
	}
	for _, st := range statuses {
		if st.status != statusRejection {
			log.Info("cmp certificate confirmed", "cert_hash", hex.EncodeToString(st.certHash))
			continue
		}
		serial, ok := s.confirming.Get(hex.EncodeToString(st.certHash), s.now())
		if !ok {
			if serial, err = s.issuedLately(ctx, profile, st.certHash); err != nil {
				return err
			}
		}
		if serial == "" {
			log.Warn("cmp certificate rejected by the client, but not issued over CMP within the confirmation wait: revoke it through the REST API",
				"cert_hash", hex.EncodeToString(st.certHash), "reason", st.text)
			continue
		}
		if err := s.ca.Revoke(ctx, serial, 0, "cmp:"+set.Reference); err != nil && !errs.Is(err, errs.Conflict) {
			return fmt.Errorf("the rejected certificate %s could not be revoked: %w", serial, err)
		}
		log.Info("cmp certificate rejected by the client, revoked", "serial", serial, "reason", st.text)
	}
	return nil
}

// issuedLately finds, in the store the replicas share, the certificate
// of profile issued over CMP within confirmWait whose hash (SHA-256, -384
// or -512, by its length) is certHash, for a certConf that reached
// another replica than the one that answered; "" if there is none.
func (s *Server) issuedLately(ctx context.Context, profile string, certHash []byte) (string, error) {
	if s.shared == nil {
		return "", nil
	}
	var h crypto.Hash
	switch len(certHash) {
	case sha256.Size:
		h = crypto.SHA256
	case sha512.Size384:
		h = crypto.SHA384
	case sha512.Size:
		h = crypto.SHA512
	default:
		return "", nil
	}
	since := s.now().Add(-confirmWait - 2*ca.Backdate)
	f := storage.CertificateFilter{Profile: profile, Method: "cmp", Limit: storage.MaxCertificateLimit}
	for {
		page, next, err := s.shared.ListCertificates(ctx, f) // newest first
		if err != nil {
			return "", err
		}
		for _, c := range page {
			if c.NotBefore.Before(since) {
				return "", nil
			}
			d := h.New()
			d.Write(c.DER)
			if bytes.Equal(d.Sum(nil), certHash) {
				return c.Serial, nil
			}
		}
		if next == "" {
			return "", nil
		}
		f.Cursor = next
	}
}

// answer writes a PKIMessage with body, protected as the request was:
// with the shared secret, or signed by the CA (its certificate first in
// extraCerts); an error to a request that proved nothing goes
// unprotected.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, req *message, set ProfileSettings, who sender, body []byte, extra [][]byte, implicit bool) {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	issuer := set.CA.Cert().RawSubject
	var (
		header, protection []byte
	)
	switch {
	case who.mac != nil:
		next, alg := who.mac.renewed()
		header = responseHeader(req, issuer, &alg, req.senderKID, nonce, s.now(), implicit)
		protection = next.sum(set.Secret, protectedPart(header, body))
	case who.serial != "":
		alg, hash, err := signatureAlgorithm(set.CA)
		if err == nil {
			header = responseHeader(req, issuer, &alg, set.CA.Cert().SubjectKeyId, nonce, s.now(), implicit)
			protection, err = signWith(r.Context(), set.CA, hash, protectedPart(header, body))
		}
		if err != nil {
			s.log.Error("cmp: sign an answer", "ca", set.CA.Name, "err", err)
			textanswer.Fail(w, r, s.log, "CMP", errs.Wrap(errs.KindOf(err), err, "sign the answer"))
			return
		}
		// The signer's certificate first, then what was to go along
		// (the new certificate's chain begins with it).
		full := [][]byte{set.CA.Cert().Raw}
		for _, c := range extra {
			if !bytes.Equal(c, full[0]) {
				full = append(full, c)
			}
		}
		extra = full
	default:
		header = responseHeader(req, issuer, nil, nil, nonce, s.now(), false)
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(pkiMessage(header, body, protection, extra))
}

// failInfoOf is the PKIFailureInfo bit of a core's refusal.
func failInfoOf(err error) int {
	switch errs.KindOf(err) {
	case errs.BadCSR, errs.Malformed:
		return failBadCertTemplate
	case errs.Forbidden, errs.RejectedIdentifier, errs.Unauthorized, errs.Conflict:
		return failNotAuthorized
	case errs.Unavailable:
		return failSystemUnavail
	}
	return failSystemFailure
}

// publicText is what a client may read of a core's refusal.
func publicText(err error) string {
	if errs.ClientFault(err) {
		return err.Error()
	}
	if msg, ok := errs.PublicMessage(err); ok {
		return msg
	}
	if errs.KindOf(err) == errs.Unavailable {
		return "the gateway cannot issue now; try again later"
	}
	return "the gateway failed to issue"
}

// limit spends one issuance of the CSR's subject under profile; past the
// rate limit it returns the rejection to answer (systemUnavail, with the
// wait in its text) and true. A client repeating a request held for
// approval polls (pollReq), which does not count.
func (s *Server) limit(log *slog.Logger, profile string, csr *x509.CertificateRequest) ([]byte, bool) {
	err := s.limiter.Take(ratelimit.Subject(profile, csr.Subject), s.now())
	if err == nil {
		return nil, false
	}
	log.Info("cmp request refused", "err", err)
	return errorBody(err.Error(), failSystemUnavail), true
}
