package api

import (
	"net/http"
	"time"
)

// defaultGrace is how old a pending record must be before reconcile takes
// its certificate from the audit trail. An issuance in flight writes the
// audit record, then activates the certificate, a few milliseconds apart;
// a reconcile between the two would activate it first and make the
// issuance fail. Five minutes is far beyond any signature, even one that
// waits for an HSM session.
const defaultGrace = 5 * time.Minute

type reconcileResponse struct {
	Restored int `json:"restored"`
}

// reconcile brings into the inventory the certificates that were signed
// but not stored (see ca.Core.Reconcile): POST /admin/reconcile with an
// optional grace query parameter ("90s", "5m", "1d"; default 5m).
func (a *API) reconcile(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r, "grace")
	if err != nil {
		a.problem(w, r, err)
		return
	}
	grace, err := q.duration("grace", defaultGrace)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	n, err := a.core.Reconcile(r.Context(), grace)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	a.log.Info("reconciled", "restored", n, "grace", grace.String(), "by", requester(r))
	writeJSON(w, http.StatusOK, reconcileResponse{Restored: n})
}
