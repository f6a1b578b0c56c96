package acme

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// Orders: RFC 8555 sections 7.4 (newOrder) and 7.1.3 (the order object).

type orderJSON struct {
	Status         string                   `json:"status"`
	Expires        string                   `json:"expires"`
	Identifiers    []storage.ACMEIdentifier `json:"identifiers"`
	Authorizations []string                 `json:"authorizations"`
	Finalize       string                   `json:"finalize"`
	Certificate    string                   `json:"certificate,omitempty"`
	Error          json.RawMessage          `json:"error,omitempty"`
	Replaces       string                   `json:"replaces,omitempty"`
	Profile        string                   `json:"profile"` // draft-ietf-acme-profiles section 4
}

// orderStatus is the status a client sees: a pending or ready order past
// its expiry is invalid (section 7.1.6).
func (s *Server) orderStatus(o storage.ACMEOrder) string {
	if (o.Status == storage.ACMEPending || o.Status == storage.ACMEReady) && !s.now().Before(o.Expires) {
		return storage.ACMEInvalid
	}
	return o.Status
}

func (s *Server) orderResponse(ctx context.Context, base string, o storage.ACMEOrder, status int) (*response, error) {
	az, err := s.store.ACMEOrderAuthzs(ctx, o.ID)
	if err != nil {
		return nil, err
	}
	body := orderJSON{
		Status: s.orderStatus(o), Expires: o.Expires.UTC().Format(time.RFC3339), Identifiers: o.Identifiers,
		Authorizations: []string{}, Finalize: base + "/order/" + o.ID + "/finalize", Error: o.Error, Replaces: o.Replaces,
		Profile: o.Profile,
	}
	for _, a := range az {
		body.Authorizations = append(body.Authorizations, base+"/authz/"+a.ID)
	}
	if o.Status == storage.ACMEValid {
		body.Certificate = base + "/cert/" + o.ID
	}
	return &response{status: status, body: body, location: base + "/order/" + o.ID, retryAfter: o.Status == storage.ACMEProcessing}, nil
}

// newOrder creates an order with one fresh authorization per identifier.
func (s *Server) newOrder(ctx context.Context, req *request) (*response, error) {
	var p struct {
		Identifiers []storage.ACMEIdentifier `json:"identifiers"`
		NotBefore   string                   `json:"notBefore"`
		NotAfter    string                   `json:"notAfter"`
		Replaces    string                   `json:"replaces"`
		Profile     string                   `json:"profile"`
	}
	if err := decodePayload(req, &p); err != nil {
		return nil, err
	}
	// Section 7.4: the server may refuse notBefore/notAfter; the lifetime
	// is the profile's.
	if p.NotBefore != "" || p.NotAfter != "" {
		return nil, malformed("notBefore and notAfter are not supported: the profile sets the validity")
	}
	// draft-ietf-acme-profiles section 4: the order names one of the
	// profiles the directory offers, or none for the directory's own.
	profile := req.profile
	if p.Profile != "" {
		if !s.offered(req.profile, p.Profile) {
			return nil, prob(probInvalidProfile, http.StatusBadRequest, "profile %q is not offered by this directory; it offers %s",
				p.Profile, strings.Join(s.offers(req.profile), ", "))
		}
		profile = p.Profile
	}
	idents, names, err := normalizeIdentifiers(p.Identifiers)
	if err != nil {
		return nil, err
	}
	// The profile's name policy and its CA's name constraints, before
	// anything is stored.
	if err := s.ca.CheckNames(profile, names); err != nil {
		if errs.Is(err, errs.BadCSR) {
			err = errs.Wrap(errs.RejectedIdentifier, err, "identifiers")
		}
		return nil, err
	}
	// An account made with an EAB key that names its names orders those
	// only.
	if kid := req.account.EABKeyID; kid != "" {
		k, err := s.store.GetACMEEABKey(ctx, kid)
		if err != nil {
			return nil, err
		}
		scope, err := ca.ParseNameScope(k.Names)
		if err != nil {
			return nil, errs.Wrap(errs.Internal, err, "the names of EAB key %s", kid)
		}
		if err := scope.Check(names); err != nil {
			return nil, err
		}
	}
	if p.Replaces != "" {
		if _, err := s.replacedSerial(ctx, req, p.Replaces); err != nil {
			return nil, err
		}
	}
	now := s.now()
	if limit := s.set.OrdersPerAccountPerHour; limit > 0 {
		n, err := s.store.CountACMEOrders(ctx, req.account.ID, now.Add(-time.Hour))
		if err != nil {
			return nil, err
		}
		if n >= limit {
			pe := prob(probRateLimited, http.StatusTooManyRequests,
				"this account created %d orders in the last hour, the most this server allows (acme.orders_per_account_per_hour); retry later", n)
			pe.retryAfter = time.Minute
			return nil, pe
		}
	}
	if limit := s.set.FailedValidationsPerHour; limit > 0 {
		for _, id := range idents {
			id.Value = strings.TrimPrefix(id.Value, "*.")
			n, oldest, err := s.store.CountFailedACMEValidations(ctx, req.account.ID, id, now.Add(-time.Hour))
			if err != nil {
				return nil, err
			}
			if n >= limit {
				until := oldest.Add(time.Hour)
				pe := prob(probRateLimited, http.StatusTooManyRequests,
					"%d validations of %s by this account failed in the last hour, the most this server allows (acme.failed_validations_per_hour); fix what makes them fail (the http-01 file, the dns-01 record), then retry after %s",
					n, id.Value, until.UTC().Format(time.RFC3339))
				pe.retryAfter = max(time.Second, until.Sub(now))
				return nil, pe
			}
		}
	}
	if limit := s.set.DuplicateCertificatesPerWeek; limit > 0 && p.Replaces == "" {
		n, oldest, err := s.store.CountIssuedACMEOrders(ctx, profile, idents, now.Add(-duplicateWindow))
		if err != nil {
			return nil, err
		}
		if n >= limit {
			until := oldest.Add(duplicateWindow) // the oldest leaves the window
			pe := prob(probRateLimited, http.StatusTooManyRequests,
				"%d certificates for exactly these identifiers were issued in the last 7 days, the most this server allows (acme.duplicate_certificates_per_week); retry after %s, or renew with ARI naming the certificate this one replaces",
				n, until.UTC().Format(time.RFC3339))
			pe.retryAfter = max(time.Second, until.Sub(now))
			return nil, pe
		}
	}
	o := storage.ACMEOrder{
		ID: randomID(), AccountID: req.account.ID, Profile: profile, Status: storage.ACMEPending,
		Identifiers: idents, Expires: now.Add(s.set.OrderLifetime), Replaces: p.Replaces, CreatedAt: now,
	}
	var authzs []storage.ACMEAuthz
	for i, id := range idents {
		a := storage.ACMEAuthz{
			ID: randomID(), OrderID: o.ID, AccountID: o.AccountID, Position: i, Identifier: id,
			Status: storage.ACMEPending, Expires: o.Expires,
		}
		var types []string
		switch {
		case id.Type == "ip":
			types = []string{"http-01", "tls-alpn-01"} // RFC 8738 section 7: no dns-01
		case strings.HasPrefix(id.Value, "*."):
			// Section 7.1.3: a wildcard is authorized for its base name, and
			// only through dns-01 (section 8.4 is the only one that proves
			// control of the whole zone below).
			a.Identifier.Value, a.Wildcard = strings.TrimPrefix(id.Value, "*."), true
			types = []string{"dns-01"}
		default:
			types = []string{"http-01", "dns-01", "tls-alpn-01"}
		}
		for _, t := range types {
			a.Challenges = append(a.Challenges, storage.ACMEChallenge{ID: randomID(), AuthzID: a.ID, Type: t, Token: token(), Status: storage.ACMEPending})
		}
		authzs = append(authzs, a)
	}
	if err := s.store.InsertACMEOrder(ctx, o, authzs); err != nil {
		return nil, err
	}
	return s.orderResponse(ctx, req.base, o, http.StatusCreated)
}

// duplicateWindow is the window of Settings.DuplicateCertificatesPerWeek.
const duplicateWindow = 7 * 24 * time.Hour

// normalizeIdentifiers lower-cases DNS names, canonicalizes IP addresses
// (RFC 8738 section 3), drops duplicates and keeps the client's order.
func normalizeIdentifiers(in []storage.ACMEIdentifier) ([]storage.ACMEIdentifier, ca.Names, error) {
	var names ca.Names
	if len(in) == 0 {
		return nil, names, malformed("an order needs at least one identifier")
	}
	seen := map[storage.ACMEIdentifier]bool{}
	var out []storage.ACMEIdentifier
	for _, id := range in {
		switch id.Type {
		case "dns":
			id.Value = strings.ToLower(strings.TrimSuffix(id.Value, "."))
			if id.Value == "" {
				return nil, names, malformed("empty dns identifier")
			}
			if _, err := netip.ParseAddr(id.Value); err == nil {
				return nil, names, prob(probMalformed, http.StatusBadRequest, "dns identifier %q is an IP address: use type ip", id.Value)
			}
		case "ip":
			addr, err := netip.ParseAddr(id.Value)
			if err != nil || addr.Zone() != "" {
				return nil, names, malformed("ip identifier %q is not an IP address", id.Value)
			}
			id.Value = addr.Unmap().String()
		default:
			return nil, names, prob(probUnsupportedIdent, http.StatusBadRequest, "identifier type %q is not supported (dns, ip)", id.Type)
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
		if id.Type == "dns" {
			names.DNS = append(names.DNS, id.Value)
		} else {
			names.IPs = append(names.IPs, net.ParseIP(id.Value))
		}
	}
	return out, names, nil
}

// ownOrder loads an order of the signing account; another account's order
// is 404, as if it did not exist, and so is one of a profile the
// directory no longer offers.
func (s *Server) ownOrder(ctx context.Context, req *request) (storage.ACMEOrder, error) {
	o, err := s.store.GetACMEOrder(ctx, chi.URLParam(req.r, "id"))
	if errs.Is(err, errs.NotFound) || err == nil && (o.AccountID != req.account.ID || !s.offered(req.profile, o.Profile)) {
		return o, probNotFound("no such order")
	}
	return o, err
}

// getOrder is POST-as-GET of an order.
func (s *Server) getOrder(ctx context.Context, req *request) (*response, error) {
	o, err := s.ownOrder(ctx, req)
	if err != nil {
		return nil, err
	}
	if !req.postAsGet {
		return nil, malformed("an order is read with POST-as-GET (empty payload)")
	}
	return s.orderResponse(ctx, req.base, o, http.StatusOK)
}
