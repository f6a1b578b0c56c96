package acme

import (
	"context"
	"encoding/json"
	"net/http"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/certgw/gateway/errs"
)

// keyChange rolls an account over to a new key (RFC 8555 section 7.3.5):
// the outer JWS is signed by the account's key, the inner one (its payload)
// by the new key and names the account and the old key.
func (s *Server) keyChange(ctx context.Context, req *request) (*response, error) {
	if req.postAsGet {
		return nil, malformed("keyChange needs an inner JWS as payload")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(req.payload, &fields); err != nil {
		return nil, malformed("keyChange payload is not a JWS")
	}
	if _, ok := fields["signatures"]; ok {
		return nil, malformed("inner JWS with a signatures array")
	}
	if _, ok := fields["header"]; ok {
		return nil, malformed("inner JWS has an unprotected header")
	}
	algs := make([]jose.SignatureAlgorithm, len(allowedAlgs))
	for i, a := range allowedAlgs {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	inner, err := jose.ParseSignedJSON(string(req.payload), algs)
	if err != nil || len(inner.Signatures) != 1 {
		return nil, malformed("inner JWS cannot be parsed or uses an algorithm that is not accepted")
	}
	h := inner.Signatures[0].Protected
	if h.JSONWebKey == nil || h.KeyID != "" {
		return nil, malformed("inner JWS must carry the new key as jwk and no kid")
	}
	if h.Nonce != "" {
		return nil, malformed("inner JWS must not carry a nonce")
	}
	if u, _ := h.ExtraHeaders["url"].(string); u != req.header.URL {
		return nil, malformed("inner JWS url does not match the outer one")
	}
	newKey := h.JSONWebKey
	if err := checkKey(newKey); err != nil {
		return nil, err
	}
	if err := algFitsKey(h.Algorithm, newKey); err != nil {
		return nil, err
	}
	payload, err := inner.Verify(newKey)
	if err != nil {
		return nil, malformed("inner JWS signature does not verify")
	}
	if err := s.accountKeyAllowed(ctx, newKey); err != nil {
		return nil, err
	}
	var p struct {
		Account string          `json:"account"`
		OldKey  json.RawMessage `json:"oldKey"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, malformed("inner JWS payload is not a keyChange object")
	}
	if p.Account != s.accountURL(req.base, req.account.ID) {
		return nil, unauthorized("inner JWS names another account")
	}
	var old jose.JSONWebKey
	if err := old.UnmarshalJSON(p.OldKey); err != nil {
		return nil, malformed("oldKey is not a JWK")
	}
	oldTP, err1 := thumbprint(&old)
	curTP, err2 := thumbprint(req.jwk)
	if err1 != nil || err2 != nil || oldTP != curTP {
		return nil, unauthorized("oldKey is not the account's current key")
	}
	newTP, err := thumbprint(newKey)
	if err != nil {
		return nil, err
	}
	if other, err := s.store.ACMEAccountByThumbprint(ctx, req.profile, newTP); err == nil {
		return &response{status: http.StatusConflict, location: s.accountURL(req.base, other.ID),
			body: Problem{Type: probMalformed, Status: http.StatusConflict, Detail: "the new key belongs to another account"}}, nil
	} else if !errs.Is(err, errs.NotFound) {
		return nil, err
	}
	jwk, err := newKey.MarshalJSON()
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "encode account key")
	}
	a := *req.account
	a.Thumbprint, a.JWK = newTP, jwk
	if err := s.store.UpdateACMEAccount(ctx, a); err != nil {
		if errs.Is(err, errs.Conflict) {
			return nil, prob(probMalformed, http.StatusConflict, "the new key belongs to another account")
		}
		return nil, err
	}
	s.log.Info("acme account key changed", "account", a.ID)
	return &response{status: http.StatusOK, body: accountBody(req.base, a)}, nil
}
