package api

import (
	"crypto/x509"
	"net/http"
	"slices"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// A service that holds a client certificate the gateway issued under a
// profile of api.client_certs (a controller, a deployment agent) calls
// the API with it instead of a bearer token: a request without an
// Authorization header whose TLS client certificate chains to a CA of the
// gateway, is meant for client authentication, and is an active
// certificate of that profile in the inventory, acts as a token named
// cert:NAME:SUBJECT with the entry's scopes and profiles. A revoked
// certificate stops working within tokenTTL (the inventory is read at most
// that often per certificate).

// authenticateCert finds the token a request's client certificate stands
// for; errs.Unauthorized when there is none or it does not qualify.
func (a *API) authenticateCert(r *http.Request) (storage.Token, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return storage.Token{}, errs.New(errs.Unauthorized, "an Authorization: Bearer token, or a client certificate of a profile in api.client_certs, is required")
	}
	leaf := r.TLS.PeerCertificates[0]
	now := a.now()
	intermediates := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		intermediates.AddCert(c)
	}
	roots, err := a.caPool.Get()
	if err != nil {
		return storage.Token{}, err
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return storage.Token{}, errs.New(errs.Unauthorized, "the client certificate is not one for client authentication from a CA of the gateway: %v", err)
	}
	serial := ca.SerialHex(leaf.SerialNumber)
	rec, ok := a.certs.Get(serial, now)
	if !ok {
		if rec, err = a.store.GetCertificate(r.Context(), serial); errs.Is(err, errs.NotFound) {
			return storage.Token{}, errs.New(errs.Unauthorized, "the client certificate %s is not in the inventory", serial)
		} else if err != nil {
			return storage.Token{}, err
		}
		a.certs.Put(serial, rec, now)
	}
	if rec.Status != storage.StatusActive || !now.Before(rec.NotAfter) {
		return storage.Token{}, errs.New(errs.Unauthorized, "the client certificate %s is %s", serial, certState(rec))
	}
	i := slices.IndexFunc(a.clientCerts, func(c config.ClientCertAuth) bool { return c.Profile == rec.Profile })
	if i < 0 {
		return storage.Token{}, errs.New(errs.Unauthorized, "certificates of profile %s do not authenticate to the API (api.client_certs)", rec.Profile)
	}
	c := a.clientCerts[i]
	who := leaf.Subject.CommonName
	if who == "" && len(leaf.DNSNames) > 0 {
		who = leaf.DNSNames[0]
	}
	if who == "" {
		who = serial
	}
	name := "cert:" + c.Name + ":" + who
	return storage.Token{ID: "cert:" + serial, Name: name, Scopes: c.Scopes, Profiles: c.Profiles, ExpiresAt: rec.NotAfter}, nil
}

// certState says why a certificate record does not authenticate.
func certState(rec storage.Certificate) string {
	switch {
	case rec.Status == storage.StatusRevoked:
		return "revoked"
	case rec.Status != storage.StatusActive:
		return string(rec.Status)
	default:
		return "expired"
	}
}
