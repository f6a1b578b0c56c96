package api

import (
	"fmt"
	"net/http"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

type autoRenewRequest struct {
	Enabled *bool `json:"enabled"`
}

// autoRenew switches server-driven renewal of one certificate on or off:
// POST /certificates/{serial}/auto-renew with {"enabled": bool}. It
// answers the certificate. Renewal makes a new key, so it can be switched
// on only for a signed, unrevoked certificate whose key the gateway holds;
// switching off is always allowed. The switch is audited.
func (a *API) autoRenew(w http.ResponseWriter, r *http.Request) {
	serial, err := serialParam(r)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	var req autoRenewRequest
	if err := decodeJSON(w, r, &req); err != nil {
		a.problem(w, r, err)
		return
	}
	if req.Enabled == nil {
		a.problem(w, r, errs.New(errs.Malformed, "field \"enabled\": required (true or false)"))
		return
	}
	ctx := r.Context()
	c, err := a.store.GetCertificate(ctx, serial)
	if err != nil {
		a.problem(w, r, certError(serial, err))
		return
	}
	if *req.Enabled {
		switch {
		case c.KeyPEM == nil:
			err = errs.New(errs.Conflict, "certificate %s: the gateway does not hold its key, so it cannot renew it (server-driven renewal is for keys the gateway generated)", serial)
		case c.Status != storage.StatusActive:
			err = errs.New(errs.Conflict, "certificate %s is %s: only an active certificate can be renewed", serial, c.Status)
		}
		if err != nil {
			a.problem(w, r, err)
			return
		}
	}
	if err := a.store.SetAutoRenew(ctx, serial, *req.Enabled, storage.AuditEvent{
		At: a.now(), Actor: requester(r), Action: "auto-renew", Profile: c.Profile, Serial: serial,
		Detail: fmt.Sprintf("enabled=%t", *req.Enabled),
	}); err != nil {
		a.problem(w, r, err)
		return
	}
	a.log.Info("auto-renew switched", "serial", serial, "enabled", *req.Enabled, "by", requester(r))
	if c, err = a.store.GetCertificate(ctx, serial); err != nil {
		a.problem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, certificateJSON(c, a.now()))
}
