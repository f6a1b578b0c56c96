package acme

import (
	"context"
	"encoding/json"
	"net/http"
	"net/mail"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// Accounts: RFC 8555 sections 7.3 (newAccount), 7.3.2 (update), 7.3.6
// (deactivation) and 7.3.5 (key rollover).

type accountJSON struct {
	Status      string   `json:"status"`
	Contact     []string `json:"contact,omitempty"`
	TermsAgreed bool     `json:"termsOfServiceAgreed,omitempty"`
	Orders      string   `json:"orders"`
	EAB         any      `json:"externalAccountBinding,omitempty"`
}

func (s *Server) accountURL(base, id string) string { return base + "/acct/" + id }

func accountBody(base string, a storage.ACMEAccount) accountJSON {
	return accountJSON{Status: a.Status, Contact: a.Contact, TermsAgreed: a.TermsAgreed, Orders: base + "/acct/" + a.ID + "/orders"}
}

// newAccount creates an account, or returns the existing one of the key
// with 200 (section 7.3.1).
// accountKeyAllowed refuses, as badPublicKey, an account key the gateway
// blocked (a key whose certificate was revoked for keyCompromise is no
// account key either, as at Let's Encrypt) or one weak by how it was made.
func (s *Server) accountKeyAllowed(ctx context.Context, k *jose.JSONWebKey) error {
	err := s.ca.CheckKeyBlocked(ctx, k.Key)
	if errs.Is(err, errs.BadCSR) {
		return prob(probBadPublicKey, http.StatusBadRequest, "%s", strings.Replace(err.Error(), "the public key", "the account key", 1))
	}
	return err
}

func (s *Server) newAccount(ctx context.Context, req *request) (*response, error) {
	var p struct {
		Contact              []string        `json:"contact"`
		TermsOfServiceAgreed bool            `json:"termsOfServiceAgreed"`
		OnlyReturnExisting   bool            `json:"onlyReturnExisting"`
		ExternalAccount      json.RawMessage `json:"externalAccountBinding"`
	}
	if err := decodePayload(req, &p); err != nil {
		return nil, err
	}
	tp, err := thumbprint(req.jwk)
	if err != nil {
		return nil, err
	}
	existing, err := s.store.ACMEAccountByThumbprint(ctx, req.profile, tp)
	switch {
	case err == nil:
		if existing.Status != storage.ACMEValid {
			return nil, unauthorized("the account of this key is %s", existing.Status)
		}
		return &response{status: http.StatusOK, body: accountBody(req.base, existing), location: s.accountURL(req.base, existing.ID)}, nil
	case !errs.Is(err, errs.NotFound):
		return nil, err
	}
	if p.OnlyReturnExisting {
		return nil, prob(probAccountDoesNotExist, http.StatusBadRequest, "no account exists with this key")
	}
	if err := s.accountKeyAllowed(ctx, req.jwk); err != nil {
		return nil, err
	}
	if s.set.TermsOfService != "" && !p.TermsOfServiceAgreed {
		return nil, malformed("the terms of service must be agreed to (termsOfServiceAgreed)")
	}
	if err := checkContacts(p.Contact); err != nil {
		return nil, err
	}
	jwk, err := req.jwk.MarshalJSON()
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "encode account key")
	}
	a := storage.ACMEAccount{
		ID: randomID(), Profile: req.profile, Thumbprint: tp, JWK: jwk, Status: storage.ACMEValid,
		Contact: p.Contact, TermsAgreed: p.TermsOfServiceAgreed, CreatedAt: s.now(),
	}
	{
		kid, err := s.checkEAB(ctx, req, p.ExternalAccount)
		if err != nil {
			return nil, err
		}
		a.EABKeyID = kid
	}
	if err := s.store.InsertACMEAccount(ctx, a); err != nil {
		if errs.Is(err, errs.Conflict) && a.EABKeyID == "" {
			// Another request registered the same key in between.
			existing, gerr := s.store.ACMEAccountByThumbprint(ctx, req.profile, tp)
			if gerr == nil {
				return &response{status: http.StatusOK, body: accountBody(req.base, existing), location: s.accountURL(req.base, existing.ID)}, nil
			}
		}
		if a.EABKeyID != "" && (errs.Is(err, errs.Conflict) || errs.Is(err, errs.NotFound)) {
			return nil, unauthorized("external account binding key %q is unknown or already used", a.EABKeyID)
		}
		return nil, err
	}
	s.log.Info("acme account created", "profile", req.profile, "account", a.ID)
	return &response{status: http.StatusCreated, body: accountBody(req.base, a), location: s.accountURL(req.base, a.ID)}, nil
}

// checkContacts accepts mailto: URLs with one plain address each, as
// Boulder does (section 7.3: the server may restrict schemes).
func checkContacts(contacts []string) error {
	for _, c := range contacts {
		addr, ok := strings.CutPrefix(c, "mailto:")
		if !ok {
			return prob(probUnsupportedContact, http.StatusBadRequest, "contact %q: only mailto: is supported", c)
		}
		if strings.ContainsAny(addr, "?,") {
			return prob(probInvalidContact, http.StatusBadRequest, "contact %q: one address, no header fields", c)
		}
		if a, err := mail.ParseAddress(addr); err != nil || a.Address != addr || a.Name != "" {
			return prob(probInvalidContact, http.StatusBadRequest, "contact %q is not an e-mail address", c)
		}
	}
	return nil
}

// ownAccount checks that the URL's account is the signer's (section 7.3.2:
// an account can only be changed by its own key).
func ownAccount(req *request) error {
	if chi.URLParam(req.r, "id") != req.account.ID {
		return unauthorized("the request is signed by another account")
	}
	return nil
}

// account is POST to the account URL: POST-as-GET, update of contact, or
// deactivation.
func (s *Server) account(ctx context.Context, req *request) (*response, error) {
	if err := ownAccount(req); err != nil {
		return nil, err
	}
	a := *req.account
	if req.postAsGet {
		return &response{status: http.StatusOK, body: accountBody(req.base, a)}, nil
	}
	var p struct {
		Contact *[]string `json:"contact"`
		Status  string    `json:"status"`
	}
	if err := decodePayload(req, &p); err != nil {
		return nil, err
	}
	switch p.Status {
	case "", storage.ACMEValid:
	case storage.ACMEDeactivated:
		a.Status = storage.ACMEDeactivated
	default:
		return nil, malformed("an account's status can only be set to deactivated, not %q", p.Status)
	}
	if p.Contact != nil {
		if err := checkContacts(*p.Contact); err != nil {
			return nil, err
		}
		a.Contact = *p.Contact
	}
	if err := s.store.UpdateACMEAccount(ctx, a); err != nil {
		return nil, err
	}
	if a.Status == storage.ACMEDeactivated {
		s.log.Info("acme account deactivated", "profile", req.profile, "account", a.ID)
	}
	return &response{status: http.StatusOK, body: accountBody(req.base, a)}, nil
}

// accountOrders lists the account's orders that are not invalid (section
// 7.1.2.1), newest first, a page at a time.
func (s *Server) accountOrders(ctx context.Context, req *request) (*response, error) {
	if err := ownAccount(req); err != nil {
		return nil, err
	}
	ids, err := s.store.ListACMEOrders(ctx, req.account.ID, req.r.URL.Query().Get("cursor"), s.now(), ordersPerPage+1)
	if err != nil {
		return nil, err
	}
	resp := &response{status: http.StatusOK}
	if len(ids) > ordersPerPage {
		ids = ids[:ordersPerPage]
		next := req.base + "/acct/" + req.account.ID + "/orders?cursor=" + url.QueryEscape(ids[len(ids)-1])
		resp.links = []string{`<` + next + `>;rel="next"`}
	}
	urls := []string{}
	for _, id := range ids {
		urls = append(urls, req.base+"/order/"+id)
	}
	resp.body = map[string]any{"orders": urls}
	return resp, nil
}

// ordersPerPage is how many order URLs one answer of an account's orders
// list holds; a Link rel="next" leads to the rest (RFC 8555 section
// 7.1.2.1), from the order after the page's last (?cursor=ID), so orders
// made meanwhile neither repeat nor push others out of the pages.
const ordersPerPage = 100
