package api

import (
	"crypto/x509"
	"net/http"
	"strings"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

type listResponse struct {
	Certificates []Certificate `json:"certificates"`
	// NextCursor is present when there may be more: pass it back as the
	// cursor parameter, with the same filters, for the next page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// list pages through the inventory: GET /certificates with the filters
// profile, ca, status (active, expired, revoked, pending; expired and
// active as seen at the API's clock), san (a substring of any SAN, case
// folded), subject (a substring of the subject as RFC 4514 text,
// case-sensitive), serial, expiring_before (RFC 3339; notAfter before it),
// limit and cursor.
func (a *API) list(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r, "profile", "ca", "status", "san", "subject", "serial", "requester", "method", "expiring_before", "limit", "cursor")
	if err != nil {
		a.problem(w, r, err)
		return
	}
	f := storage.CertificateFilter{
		Profile: q.str("profile"), CA: q.str("ca"), SAN: q.str("san"), Subject: q.str("subject"), Cursor: q.str("cursor"),
		Requester: q.str("requester"), Method: q.str("method"),
		Now: a.now(),
	}
	if f.Profile, err = limitedProfile(r, f.Profile, "the profile query parameter"); err != nil {
		a.problem(w, r, err)
		return
	}
	switch s := q.str("status"); s {
	case "", statusActive, statusExpired, statusRevoked, statusPending:
		f.Status = s
	default:
		a.problem(w, r, errs.New(errs.Malformed, "query parameter status: %q is not one of active, expired, revoked, pending", s))
		return
	}
	if s := q.str("serial"); s != "" {
		v, err := ca.ParseSerialHex(s)
		if err != nil {
			a.problem(w, r, errs.Wrap(errs.Malformed, err, "query parameter serial"))
			return
		}
		f.Serial = ca.SerialHex(v)
	}
	if f.ExpiringBefore, err = q.time("expiring_before"); err != nil {
		a.problem(w, r, err)
		return
	}
	if f.Limit, err = q.limit(); err != nil {
		a.problem(w, r, err)
		return
	}
	certs, next, err := a.store.ListCertificates(r.Context(), f)
	if errs.Is(err, errs.Malformed) {
		// The filters were checked above; what the store can still refuse
		// is the cursor, which it does not quote back.
		err = errs.New(errs.Malformed, "query parameter cursor: not a next_cursor from an earlier answer")
	}
	if err != nil {
		a.problem(w, r, err)
		return
	}
	resp := listResponse{Certificates: make([]Certificate, 0, len(certs)), NextCursor: next}
	for _, c := range certs {
		resp.Certificates = append(resp.Certificates, certificateJSON(c, f.Now))
	}
	writeJSON(w, http.StatusOK, resp)
}

// limitedProfile is the profile a request that selects certificates
// reaches: the one it names (where its token may use it), or, for a
// token limited to a single profile, that one. A token limited to several
// must name one, with field.
func limitedProfile(r *http.Request, profile, field string) (string, error) {
	tok := tokenOf(r)
	switch {
	case len(tok.Profiles) == 0:
		return profile, nil
	case profile != "":
		return profile, mayUse(r, profile)
	case len(tok.Profiles) == 1:
		return tok.Profiles[0], nil
	}
	return "", errs.New(errs.Forbidden, "token %q is limited to profiles %s: name one with %s", tok.Name, strings.Join(tok.Profiles, ", "), field)
}

// get answers one certificate of the inventory: GET /certificates/{serial}.
func (a *API) get(w http.ResponseWriter, r *http.Request) {
	serial, err := serialParam(r)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	c, err := a.store.GetCertificate(r.Context(), serial)
	if err == nil {
		err = sees(r, c)
	}
	if err != nil {
		a.problem(w, r, certError(serial, err))
		return
	}
	writeJSON(w, http.StatusOK, certificateJSON(c, a.now()))
}

// pem answers the certificate and its chain, issuing CA first, as
// application/pem-certificate-chain (RFC 8555 section 9.1): GET
// /certificates/{serial}/pem. It never opens a held key.
func (a *API) pem(w http.ResponseWriter, r *http.Request) {
	serial, err := serialParam(r)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	b, err := a.core.Certificate(r.Context(), serial)
	if err == nil {
		err = sees(r, b.Record)
	}
	if err != nil {
		a.problem(w, r, certError(serial, err))
		return
	}
	certs := append([]*x509.Certificate{b.Cert}, b.Chain...)
	w.Header().Set("Content-Type", "application/pem-certificate-chain")
	w.WriteHeader(http.StatusOK)
	w.Write(ca.PEMChain(certs...))
}
