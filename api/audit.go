package api

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
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
	// NextCursor, when a full page was answered, asks for the next.
	NextCursor string `json:"next_cursor,omitempty"`
}

// audit reads the audit trail, newest first: GET /audit with the filters
// serial, profile, since (at or after), until (strictly before), both RFC
// 3339, and limit. To page back in time, pass the at of the oldest event
// seen as until; events that share that instant come again and are told
// apart by id.
func (a *API) audit(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r, "serial", "profile", "action", "actor", "since", "until", "limit", "cursor")
	if err != nil {
		a.problem(w, r, err)
		return
	}
	f := storage.AuditFilter{Profile: q.str("profile"), Action: q.str("action"), Actor: q.str("actor")}
	if c := q.str("cursor"); c != "" {
		if f.AfterAt, f.AfterID, err = parseAuditCursor(c); err != nil {
			a.problem(w, r, err)
			return
		}
	}
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
	if len(events) > 0 && len(events) == f.EffectiveLimit() {
		last := events[len(events)-1]
		resp.NextCursor = auditCursor(last.At, last.ID)
	}
	writeJSON(w, http.StatusOK, resp)
}

// auditCursor is the next_cursor after the event at at with id.
func auditCursor(at time.Time, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at.UTC().Format(time.RFC3339Nano) + "/" + strconv.FormatInt(id, 10)))
}

func parseAuditCursor(s string) (time.Time, int64, error) {
	bad := errs.New(errs.Malformed, "query parameter cursor: not a next_cursor from an earlier answer")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, 0, bad
	}
	at, id, ok := strings.Cut(string(b), "/")
	t, terr := time.Parse(time.RFC3339Nano, at)
	n, nerr := strconv.ParseInt(id, 10, 64)
	if !ok || terr != nil || nerr != nil || n <= 0 {
		return time.Time{}, 0, bad
	}
	return t, n, nil
}

// auditVerification is what GET /audit/verify answers for a trail that
// passes.
type auditVerification struct {
	Checkpoints int        `json:"checkpoints"`
	Sealed      int        `json:"sealed_events"`
	LastID      int64      `json:"last_sealed_event,omitempty"`
	LastAt      *time.Time `json:"sealed_at,omitempty"`
	Unsealed    int        `json:"unsealed_events"`
}

// auditVerify checks the audit trail against its seals, as gateway audit
// verify does: 200 with what is sealed for a trail that passes, 409 naming
// the checkpoint and the events that do not match otherwise.
func (a *API) auditVerify(w http.ResponseWriter, r *http.Request) {
	if a.verifyAudit == nil {
		a.problem(w, r, errs.New(errs.NotFound, "audit verification is not served by this process"))
		return
	}
	v, err := a.verifyAudit(r.Context())
	if err != nil {
		a.problem(w, r, err)
		return
	}
	out := auditVerification{Checkpoints: v.Checkpoints, Sealed: v.Sealed, LastID: v.LastID, Unsealed: v.Unsealed}
	if !v.LastAt.IsZero() {
		at := v.LastAt.UTC()
		out.LastAt = &at
	}
	writeJSON(w, http.StatusOK, out)
}

// auditExport writes the audit trail for an auditor, as gateway audit
// export does: newline-delimited JSON, the audit key's public key, every
// checkpoint, every event (gateway audit verify -file checks it). It
// streams: a failure half-way is logged and cuts the answer short, which
// the reader finds (the last line does not parse, or seals do not match).
func (a *API) auditExport(w http.ResponseWriter, r *http.Request) {
	if a.exportAudit == nil {
		a.problem(w, r, errs.New(errs.NotFound, "audit export is not served by this process"))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="audit.ndjson"`)
	events, cps, err := a.exportAudit(r.Context(), w)
	if err != nil {
		a.log.Error("audit export cut short", "events", events, "checkpoints", cps, "err", err)
		return
	}
	a.log.Info("audit trail exported", "events", events, "checkpoints", cps, "by", requester(r))
}
