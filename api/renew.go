package api

import (
	"context"
	"net/http"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
)

// RunRenewals runs server-driven renewal (ca.Core.RenewDue) at once and
// then every interval until ctx ends. claimant names this replica in the
// store's renewal claims (a host name or a process ID), so that replicas
// sharing a PostgreSQL do not renew one certificate twice.
//
// It lives beside the API rather than in a handler because its result is
// what GET /profiles/{profile}/latest hands out; cmd/gateway starts it in
// its own goroutine. A failed run is logged and retried at the next tick.
func (a *API) RunRenewals(ctx context.Context, every time.Duration, claimant string) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		renewed, err := a.core.RenewDue(ctx, claimant)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			a.log.Error("server-driven renewal", "renewed", len(renewed), "err", err)
		case len(renewed) > 0:
			a.log.Info("server-driven renewal", "renewed", renewed)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// renewCertRequest asks for a certificate's successor: for a key the
// gateway generates (the certificate's key is held), or for the key of
// CSR, which must name what the certificate names.
type renewCertRequest struct {
	CSR      string `json:"csr"`
	Validity string `json:"validity"`
	Format   string `json:"format"`
	Password string `json:"password"`
	// Revoke revokes the renewed certificate (superseded) once its
	// successor is issued.
	Revoke bool `json:"revoke"`
}

// renewCert renews a certificate now: POST /certificates/{serial}/renew
// (ca.Core.Renew). The body may be empty. It answers 201 as an issuance
// does, with replaces naming the renewed certificate, and the new key
// where the gateway generated it.
func (a *API) renewCert(w http.ResponseWriter, r *http.Request) {
	serial, err := serialParam(r)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	var body renewCertRequest
	if err := decodeJSON(w, r, &body); err != nil && err != errEmptyBody {
		a.problem(w, r, err)
		return
	}
	req := ca.RenewRequest{Serial: serial, Requester: requester(r), Revoke: body.Revoke}
	if req.Validity, err = parseValidity(body.Validity); err != nil {
		a.problem(w, r, err)
		return
	}
	if err := checkKeyFormat(body.Format, body.Password); err != nil {
		a.problem(w, r, err)
		return
	}
	if body.CSR != "" {
		if body.Format != "" {
			a.problem(w, r, errs.New(errs.Malformed, "field \"format\": not allowed with \"csr\": the CSR's key is the requester's, and the gateway returns no key"))
			return
		}
		if req.CSR, err = csrDER(body.CSR); err != nil {
			a.problem(w, r, err)
			return
		}
	}
	if err := a.seesSerial(r, serial); err != nil {
		a.problem(w, r, err)
		return
	}
	issued, err := a.core.Renew(r.Context(), req)
	if err != nil {
		if errs.ClientFault(err) {
			a.log.Info("renewal refused", "serial", serial, "requester", requester(r), "reason", err.Error())
		}
		a.problem(w, r, err)
		return
	}
	a.log.Info("renewal granted", "serial", serial, "new", issued.Serial, "requester", requester(r), "generated_key", issued.Key != nil, "revoked", body.Revoke)
	a.writeIssued(w, r, issued, body.Format, body.Password, serial)
}
