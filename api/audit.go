package api

import (
	"net/http"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// AuditEvent is an entry of the audit trail as the API shows it.
type AuditEvent struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Profile string    `json:"profile"`
	Serial  string    `json:"serial"`
	Detail  string    `json:"detail"`
	// Certificate is the PEM of the certificate an issuance signed; absent
	// for other events.
	Certificate string `json:"certificate,omitempty"`
}

type auditResponse struct {
	Events []AuditEvent `json:"events"`
}

// audit reads the audit trail, newest first: GET /audit with the filters
// serial, profile, since (at or after), until (strictly before), both RFC
// 3339, and limit. To page back in time, pass the at of the oldest event
// seen as until; events that share that instant come again and are told
// apart by id.
func (a *API) audit(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r, "serial", "profile", "since", "until", "limit")
	if err != nil {
		a.problem(w, r, err)
		return
	}
	f := storage.AuditFilter{Profile: q.str("profile")}
	if s := q.str("serial"); s != "" {
		v, err := ca.ParseSerialHex(s)
		if err != nil {
			a.problem(w, r, errs.Wrap(errs.Malformed, err, "query parameter serial"))
			return
		}
		f.Serial = ca.SerialHex(v)
	}
	if f.Since, err = q.time("since"); err != nil {
		a.problem(w, r, err)
		return
	}
	if f.Until, err = q.time("until"); err != nil {
		a.problem(w, r, err)
		return
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		a.problem(w, r, errs.New(errs.Malformed, "query parameters since and until: since must be before until"))
		return
	}
	if f.Limit, err = q.limit(); err != nil {
		a.problem(w, r, err)
		return
	}
	events, err := a.store.ListAudit(r.Context(), f)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	resp := auditResponse{Events: make([]AuditEvent, 0, len(events))}
	for _, e := range events {
		ev := AuditEvent{ID: e.ID, At: e.At.UTC(), Actor: e.Actor, Action: e.Action, Profile: e.Profile, Serial: e.Serial, Detail: e.Detail}
		if len(e.DER) > 0 {
			ev.Certificate = string(pemCertificate(e.DER))
		}
		resp.Events = append(resp.Events, ev)
	}
	writeJSON(w, http.StatusOK, resp)
}
