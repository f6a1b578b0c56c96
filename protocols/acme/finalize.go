package acme

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/storage"
)

// Finalize: RFC 8555 section 7.4. The CSR must name exactly the order's
// identifiers. The store arbitrates concurrent calls: only the request
// that moves the order from ready to processing issues, so an order yields
// exactly one certificate.

// requester is how the core's inventory and audit name an ACME account.
func requester(accountID string) string { return "acme:" + accountID }

func (s *Server) finalize(ctx context.Context, req *request) (*response, error) {
	o, err := s.ownOrder(ctx, req)
	if err != nil {
		return nil, err
	}
	var p struct {
		CSR string `json:"csr"`
	}
	if err := decodePayload(req, &p); err != nil {
		return nil, err
	}
	if st := s.orderStatus(o); st != storage.ACMEReady {
		return nil, prob(probOrderNotReady, http.StatusForbidden, "order is %s, not ready: it cannot be finalized", st)
	}
	der, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(p.CSR, "="))
	if err != nil || len(der) == 0 {
		return nil, prob(probBadCSR, http.StatusBadRequest, "csr is not base64url-encoded DER")
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, prob(probBadCSR, http.StatusBadRequest, "csr cannot be parsed")
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, prob(probBadCSR, http.StatusBadRequest, "csr signature does not verify")
	}
	if err := csrMatchesOrder(csr, o.Identifiers); err != nil {
		return nil, err
	}
	// A renewal (RFC 9773 replaces) is checked again here: another order
	// may have replaced the certificate since this one was created.
	replaces := ""
	if o.Replaces != "" {
		if replaces, err = s.replacedSerial(ctx, req, o.Replaces); err != nil {
			return nil, err
		}
	}
	if pr := s.profiles[o.Profile]; pr != nil && pr.Upstream != "" {
		return s.finalizeUpstream(ctx, req, o, csr, replaces)
	}
	if err := s.recheckCAA(ctx, req, o); err != nil {
		return nil, s.finalizeFailed(ctx, o, err)
	}
	// The store claims the order (ready→processing) in the commit of the
	// pending record, and turns it valid in the commit that stores the
	// certificate (IssueRequest.ACMEOrder): of concurrent calls, the one
	// whose pending record lands first issues, the others find the order
	// not ready.
	issued, err := s.ca.Issue(ctx, ca.IssueRequest{Profile: o.Profile, Method: "acme", Requester: requester(o.AccountID), CheckedCSR: csr, Replaces: replaces, ACMEOrder: o.ID})
	if err != nil {
		return nil, s.finalizeFailed(ctx, o, err)
	}
	s.finalized(ctx, o, replaces, issued.Serial)
	if o, err = s.store.GetACMEOrder(ctx, o.ID); err != nil {
		return nil, err
	}
	return s.orderResponse(ctx, req.base, o, http.StatusOK)
}

// finalized marks the certificate a renewal replaced: the next renewal
// order that names it is refused (alreadyReplaced). Two orders racing to
// replace it both issue; the second is only logged.
func (s *Server) finalized(ctx context.Context, o storage.ACMEOrder, replaces, serial string) {
	if replaces != "" {
		if err := s.store.MarkRenewed(context.WithoutCancel(ctx), replaces, serial); err != nil {
			s.log.Warn("acme: mark the replaced certificate", "order", o.ID, "replaced", replaces, "serial", serial, "err", err)
		}
	}
	s.log.Info("acme order finalized", "order", o.ID, "account", o.AccountID, "serial", serial)
}

// finalizeUpstream finalizes an order of a profile backed by an external
// CA, whose issuance lasts as long as that CA's own validation (a dns-01
// record can take minutes to propagate), longer than clients wait for an
// answer. The order is claimed (ready→processing) first, so a client that
// retries does not start a second issuance; the issuance gets the same
// head start as a validation, and what outlasts it goes on in the
// background while the client polls the processing order (RFC 8555
// section 7.4). Its outcome turns the order valid or invalid; an order a
// stopped replica left processing is failed by the sweeper (RunSweeper).
func (s *Server) finalizeUpstream(ctx context.Context, req *request, o storage.ACMEOrder, csr *x509.CertificateRequest, replaces string) (*response, error) {
	won, err := s.store.SetACMEOrderStatus(ctx, o.ID, storage.ACMEReady, storage.ACMEProcessing, nil, "")
	if err != nil {
		return nil, err
	}
	if !won {
		return nil, prob(probOrderNotReady, http.StatusForbidden, "order is already being finalized")
	}
	bctx := context.WithoutCancel(ctx)
	done := s.finalizing.start(o.ID, func() { s.issueUpstream(bctx, o, csr, replaces) })
	t := time.NewTimer(s.set.ValidationHeadStart)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
	if o, err = s.store.GetACMEOrder(bctx, o.ID); err != nil {
		return nil, err
	}
	return s.orderResponse(bctx, req.base, o, http.StatusOK)
}

// issueUpstream has the core obtain the certificate of a claimed order
// from the external CA and records the outcome on the order.
func (s *Server) issueUpstream(ctx context.Context, o storage.ACMEOrder, csr *x509.CertificateRequest, replaces string) {
	issued, err := s.ca.Issue(ctx, ca.IssueRequest{Profile: o.Profile, Method: "acme", Requester: requester(o.AccountID), CheckedCSR: csr, Replaces: replaces})
	if err != nil {
		p, _ := toProblem(err)
		if _, serr := s.store.SetACMEOrderStatus(ctx, o.ID, storage.ACMEProcessing, storage.ACMEInvalid, p.json(), ""); serr != nil {
			s.log.Error("acme: record failed issuance", "order", o.ID, "err", serr)
		}
		s.log.Info("acme order failed at the external CA", "order", o.ID, "profile", o.Profile, "err", err)
		return
	}
	if _, err := s.store.SetACMEOrderStatus(ctx, o.ID, storage.ACMEProcessing, storage.ACMEValid, nil, issued.Serial); err != nil {
		s.log.Error("acme: record the certificate of an order", "order", o.ID, "serial", issued.Serial, "err", err)
		return
	}
	s.finalized(ctx, o, replaces, issued.Serial)
}

// finalizeFailed records on the order why its issuance failed, if this
// call owns the outcome, and returns err for the client.
//
//   - The order was not ready when the pending record was to be stored:
//     another call is finalizing it (or has); nothing to record.
//   - The certificate was signed and its DER audited but not stored: the
//     order stays processing, and the reconcile step, which stores the
//     certificate, turns it valid.
//   - The issuance failed after this call claimed the order (the HSM did
//     not sign, or nothing could be recorded): processing→invalid.
//   - It failed before (the profile refused the request, the lint gate
//     stopped it): the order is still ready; ready→invalid, unless a
//     concurrent call claimed it meanwhile.
func (s *Server) finalizeFailed(ctx context.Context, o storage.ACMEOrder, err error) error {
	switch {
	case errors.Is(err, storage.ErrACMEOrderNotReady):
		return prob(probOrderNotReady, http.StatusForbidden, "order is already being finalized")
	case errors.Is(err, ca.ErrAwaitingReconcile):
		return err
	}
	from := storage.ACMEReady
	if errors.Is(err, ca.ErrReserved) {
		from = storage.ACMEProcessing
	}
	p, _ := toProblem(err)
	if _, serr := s.store.SetACMEOrderStatus(context.WithoutCancel(ctx), o.ID, from, storage.ACMEInvalid, p.json(), ""); serr != nil {
		s.log.Error("acme: record failed issuance", "order", o.ID, "err", serr)
	}
	return err
}

// csrMatchesOrder requires the CSR's names (SANs and a CN, which must be
// one of them) to be exactly the order's identifiers: nothing more,
// nothing less (section 7.4).
func csrMatchesOrder(csr *x509.CertificateRequest, idents []storage.ACMEIdentifier) error {
	want := map[string]bool{}
	for _, id := range idents {
		want[id.Type+":"+id.Value] = true
	}
	got := map[string]bool{}
	for _, d := range csr.DNSNames {
		if d != strings.ToLower(d) {
			return prob(probBadCSR, http.StatusBadRequest, "CSR DNS name %q is not lower case", d)
		}
		got["dns:"+d] = true
	}
	for _, ip := range csr.IPAddresses {
		got["ip:"+canonicalIP(ip)] = true
	}
	if len(csr.EmailAddresses) > 0 || len(csr.URIs) > 0 {
		return prob(probBadCSR, http.StatusBadRequest, "CSR has e-mail or URI names, which no ACME order can authorize")
	}
	if cn := csr.Subject.CommonName; cn != "" {
		k := "dns:" + cn
		if ip := net.ParseIP(cn); ip != nil {
			k = "ip:" + canonicalIP(ip)
		}
		if !got[k] {
			return prob(probBadCSR, http.StatusBadRequest, "CSR common name %q is not one of its subject alternative names", cn)
		}
	}
	var missing, extra []string
	for k := range want {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	for k := range got {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		slices.Sort(missing)
		slices.Sort(extra)
		return prob(probBadCSR, http.StatusBadRequest, "CSR names differ from the order's identifiers (missing: %s; not in the order: %s)",
			strings.Join(missing, ", "), strings.Join(extra, ", "))
	}
	return nil
}

func canonicalIP(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.String()
}
