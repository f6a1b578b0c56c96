package api

import (
	"crypto/x509"
	"net/http"
	"strings"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/go-chi/chi/v5"
)

// caJSON is one CA as GET /cas lists it.
type caJSON struct {
	Name   string `json:"name"`
	Parent string `json:"parent,omitempty"`
	// External is an upstream (an external ACME CA): no certificate of
	// its own here, its directory in Directory.
	External  bool   `json:"external,omitempty"`
	Directory string `json:"directory,omitempty"`

	Serial      string     `json:"serial,omitempty"`
	Subject     string     `json:"subject,omitempty"`
	NotBefore   *time.Time `json:"not_before,omitempty"`
	NotAfter    *time.Time `json:"not_after,omitempty"`
	DaysLeft    *int       `json:"days_left,omitempty"`
	Certificate string     `json:"certificate,omitempty"` // PEM
	// Chain is set for a CA an external CA certifies (cas[].external):
	// the certificates above it, up to and including that CA's root (PEM).
	Chain string `json:"chain,omitempty"`
	// RevokedAt and RevocationReason are set for a revoked CA (or one
	// under a revoked CA), as this gateway knows it.
	RevokedAt        *time.Time `json:"revoked_at,omitempty"`
	RevocationReason string     `json:"revocation_reason,omitempty"`
	// ServingSerial is the certificate this gateway signs under when it
	// is not the stored one: the CA was renewed (gateway ca renew) and
	// this process has not reloaded it yet (it does within a minute, or
	// at once on SIGHUP).
	ServingSerial string `json:"serving_serial,omitempty"`
}

// cas lists the CAs in the store with their certificates and when they
// end, for monitoring and for pipelines that fetch the chain: GET /cas.
func (a *API) cas(w http.ResponseWriter, r *http.Request) {
	recs, err := a.store.ListCAs(r.Context())
	if err != nil {
		a.problem(w, r, err)
		return
	}
	now := a.now()
	visible := a.visibleCAs(r, recs)
	out := make([]caJSON, 0, len(recs))
	for _, rec := range ca.ParentsFirst(recs) {
		if visible != nil && !visible[rec.Name] {
			continue
		}
		j := caJSON{Name: rec.Name, Parent: rec.Parent}
		if dir, ok := rec.Upstream(); ok {
			j.External, j.Directory = true, dir
			out = append(out, j)
			continue
		}
		cert, err := x509.ParseCertificate(rec.CertDER)
		if err != nil {
			a.problem(w, r, errs.Wrap(errs.Internal, err, "CA %s: stored certificate", rec.Name))
			return
		}
		a.describeCA(&j, cert, now)
		if rec.Chain != nil {
			chain, err := x509.ParseCertificates(rec.Chain)
			if err != nil {
				a.problem(w, r, errs.Wrap(errs.Internal, err, "CA %s: stored chain", rec.Name))
				return
			}
			j.Chain = string(ca.PEMChain(chain...))
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"cas": out})
}

// visibleCAs is what a token limited to profiles sees of recs: the CA or
// upstream each of its profiles issues from, and the CAs above them (the
// chain its certificates carry); nil for a token that sees everything.
func (a *API) visibleCAs(r *http.Request, recs []storage.CA) map[string]bool {
	tok := tokenOf(r)
	if len(tok.Profiles) == 0 {
		return nil
	}
	parent := map[string]string{}
	for _, rec := range recs {
		parent[rec.Name] = rec.Parent
	}
	visible := map[string]bool{}
	for _, name := range tok.Profiles {
		p := a.core.Profiles[name]
		if p == nil {
			continue
		}
		if p.Upstream != "" {
			visible[p.Upstream] = true
			continue
		}
		for c := p.CA; c != "" && !visible[c]; c = parent[c] {
			visible[c] = true
		}
	}
	return visible
}

// describeCA fills j with the CA's stored certificate cert.
func (a *API) describeCA(j *caJSON, cert *x509.Certificate, now time.Time) {
	days := ca.DaysLeft(now, cert.NotAfter)
	j.Serial, j.Subject, j.NotBefore, j.NotAfter, j.DaysLeft = ca.SerialHex(cert.SerialNumber), cert.Subject.String(), &cert.NotBefore, &cert.NotAfter, &days
	j.Certificate = string(ca.PEMChain(cert))
	served := a.core.CAs[j.Name]
	if served == nil {
		return
	}
	cur := served.Certified()
	if !cur.Cert.Equal(cert) {
		j.ServingSerial = ca.SerialHex(cur.Cert.SerialNumber)
	}
	if r := cur.Revoked; r != nil {
		at := r.At.UTC()
		j.RevokedAt, j.RevocationReason = &at, ReasonName(r.Reason)
	}
}

type renewCARequest struct {
	Validity string `json:"validity"`
}

// renewCAResponse is the renewed CA, with the certificate it replaces.
type renewCAResponse struct {
	caJSON
	Replaces string `json:"replaces"`
}

// renewCA renews a CA as `gateway ca renew` does (ca.Hierarchy.Renew: same
// key, subject and key identifier, linted, signed by the parent, audited)
// and has this process serve the new certificate at once; other replicas
// take it up within a minute. POST /cas/{name}/renew with an optional
// {"validity": "3650d"} (default: the CA's configured validity).
func (a *API) renewCA(w http.ResponseWriter, r *http.Request) {
	if a.renewCAFn == nil {
		a.problem(w, r, errs.New(errs.NotFound, "CA renewal is not served by this process"))
		return
	}
	var req renewCARequest
	if err := decodeJSON(w, r, &req); err != nil && err != errEmptyBody {
		a.problem(w, r, err)
		return
	}
	var validity time.Duration
	if req.Validity != "" {
		d, err := config.ParseDuration(req.Validity)
		if err != nil {
			a.problem(w, r, errs.Wrap(errs.Malformed, err, "field \"validity\""))
			return
		}
		validity = d.D()
	}
	name := chi.URLParam(r, "name")
	ren, err := a.renewCAFn(r.Context(), name, validity, requester(r))
	if err != nil {
		a.problem(w, r, err)
		return
	}
	a.log.Info("CA renewed", "ca", name, "serial", ca.SerialHex(ren.Renewed.SerialNumber), "replaces", ca.SerialHex(ren.Old.SerialNumber),
		"not_after", ren.Renewed.NotAfter, "by", requester(r))
	out := renewCAResponse{caJSON: caJSON{Name: name, Parent: ren.Parent}, Replaces: ca.SerialHex(ren.Old.SerialNumber)}
	a.describeCA(&out.caJSON, ren.Renewed, a.now())
	writeJSON(w, http.StatusOK, out)
}

type revokeCARequest struct {
	Reason string `json:"reason"`
}

// revokeCAResponse is what POST /cas/{name}/revoke did.
type revokeCAResponse struct {
	CA        string    `json:"ca"`
	Parent    string    `json:"parent"`
	Serials   []string  `json:"serials"` // the CA's certificates revoked, current first
	RevokedAt time.Time `json:"revoked_at"`
	Reason    string    `json:"reason"`
}

// revokeCA revokes a subordinate CA as `gateway ca revoke` does
// (ca.Hierarchy.Revoke: every certificate of its key, published by its
// parent's CRL and OCSP responder) and stops this process issuing under
// it at once; other replicas stop within a minute. POST /cas/{name}/revoke
// with an optional {"reason": name} (RFC 5280; default unspecified).
func (a *API) revokeCA(w http.ResponseWriter, r *http.Request) {
	if a.revokeCAFn == nil {
		a.problem(w, r, errs.New(errs.NotFound, "CA revocation is not served by this process"))
		return
	}
	var req revokeCARequest
	if err := decodeJSON(w, r, &req); err != nil && err != errEmptyBody {
		a.problem(w, r, err)
		return
	}
	reason, err := ReasonCode(req.Reason)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	name := chi.URLParam(r, "name")
	rev, err := a.revokeCAFn(r.Context(), name, reason, requester(r))
	if err != nil {
		a.problem(w, r, err)
		return
	}
	a.log.Warn("CA revoked", "ca", name, "serials", rev.Serials, "reason", ReasonName(reason), "by", requester(r))
	writeJSON(w, http.StatusOK, revokeCAResponse{CA: rev.CA, Parent: rev.Parent, Serials: rev.Serials, RevokedAt: rev.At.UTC(), Reason: ReasonName(rev.Reason)})
}

// caRequestResponse is a CA's certificate request.
type caRequestResponse struct {
	CA  string `json:"ca"`
	CSR string `json:"csr"` // PEM
}

// caRequest answers a certificate request for the key of a CA that an
// external CA certifies, as `gateway ca csr` writes it: GET /cas/{name}/csr.
func (a *API) caRequest(w http.ResponseWriter, r *http.Request) {
	if a.caRequestFn == nil {
		a.problem(w, r, errs.New(errs.NotFound, "CA certificate requests are not served by this process"))
		return
	}
	name := chi.URLParam(r, "name")
	der, err := a.caRequestFn(r.Context(), name)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, caRequestResponse{CA: name, CSR: string(ca.RequestPEM(der))})
}

type importCARequest struct {
	// Certificate is PEM: the CA's certificate and those above it, up to
	// and including the root.
	Certificate string `json:"certificate"`
}

// importCA installs the certificate an external CA issued for one of the
// gateway's CAs, as `gateway ca import` does (ca.Hierarchy.Import), and
// has this process serve it at once; other replicas take it up within a
// minute. POST /cas/{name}/certificate with {"certificate": PEM}.
func (a *API) importCA(w http.ResponseWriter, r *http.Request) {
	if a.importCAFn == nil {
		a.problem(w, r, errs.New(errs.NotFound, "CA certificate imports are not served by this process"))
		return
	}
	var req importCARequest
	if err := decodeJSON(w, r, &req); err != nil {
		a.problem(w, r, err)
		return
	}
	if strings.TrimSpace(req.Certificate) == "" {
		a.problem(w, r, errs.New(errs.Malformed, "field \"certificate\" is required: the CA's certificate and those above it, up to the root, as PEM"))
		return
	}
	name := chi.URLParam(r, "name")
	im, err := a.importCAFn(r.Context(), name, []byte(req.Certificate), requester(r))
	if err != nil {
		a.problem(w, r, err)
		return
	}
	a.log.Info("CA certificate imported", "ca", name, "serial", ca.SerialHex(im.Cert.SerialNumber), "issuer", im.Cert.Issuer.String(), "by", requester(r))
	out := renewCAResponse{caJSON: caJSON{Name: name, Chain: string(ca.PEMChain(im.Chain...))}}
	if im.Replaces != nil {
		out.Replaces = ca.SerialHex(im.Replaces.SerialNumber)
	}
	a.describeCA(&out.caJSON, im.Cert, a.now())
	writeJSON(w, http.StatusOK, out)
}
