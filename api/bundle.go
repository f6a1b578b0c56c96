package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
)

type bundleResponse struct {
	Serial      string    `json:"serial"`
	Certificate string    `json:"certificate"`
	Chain       string    `json:"chain"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	// PrivateKey is the PKCS#8 PEM key where the gateway holds it.
	PrivateKey string `json:"private_key,omitempty"`
}

// latest answers the newest active certificate of a profile, with its
// chain and, where the gateway holds it, its key: GET
// /profiles/{profile}/latest. A device or a deployment job polls it to
// pick up what server-driven renewal issued. Handing out the key is
// audited.
func (a *API) latest(w http.ResponseWriter, r *http.Request) {
	profile := chi.URLParam(r, "profile")
	b, err := a.core.LatestBundle(r.Context(), profile)
	if err != nil {
		if _, known := a.core.Profiles[profile]; known && errs.Is(err, errs.NotFound) {
			err = errs.New(errs.NotFound, "profile %s has no active certificate", profile)
		}
		a.problem(w, r, err)
		return
	}
	resp := bundleResponse{
		Serial:      b.Record.Serial,
		Certificate: string(ca.PEMChain(b.Cert)),
		Chain:       string(ca.PEMChain(b.Chain...)),
		NotBefore:   b.Cert.NotBefore.UTC(),
		NotAfter:    b.Cert.NotAfter.UTC(),
	}
	if b.KeyPEM != nil {
		if err := a.auditKeyExport(r, b.Record, "latest"); err != nil {
			a.problem(w, r, err)
			return
		}
		resp.PrivateKey = string(b.KeyPEM)
	}
	writeJSON(w, http.StatusOK, resp)
}
