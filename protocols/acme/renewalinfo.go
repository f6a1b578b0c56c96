package acme

import (
	"bytes"
	"context"
	"encoding/base64"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
)

// ARI: RFC 9773. A certificate is named by its certID,
// base64url(authorityKeyIdentifier) "." base64url(serial DER content).

// parseCertID returns the serial (lowercase hex, as the inventory writes
// it) and the key identifier of a certID.
func parseCertID(id string) (string, []byte) {
	aki, ser, ok := strings.Cut(id, ".")
	if !ok {
		return "", nil
	}
	a, err1 := base64.RawURLEncoding.DecodeString(aki)
	b, err2 := base64.RawURLEncoding.DecodeString(ser)
	if err1 != nil || err2 != nil || len(a) == 0 || len(b) == 0 {
		return "", nil
	}
	return ca.SerialHex(new(big.Int).SetBytes(b)), a
}

// window is the suggested renewal window: from two thirds of the lifetime
// to five sixths, or now if the certificate is revoked.
func (s *Server) window(ctx context.Context, certID string) (start, end time.Time, err error) {
	serial, aki := parseCertID(certID)
	if serial == "" {
		return start, end, malformed("%q is not an RFC 9773 certificate identifier", certID)
	}
	b, err := s.ca.Bundle(ctx, serial)
	if errs.Is(err, errs.NotFound) || errs.Is(err, errs.Conflict) || err == nil && !bytes.Equal(b.Cert.AuthorityKeyId, aki) {
		return start, end, probNotFound("no such certificate")
	}
	if err != nil {
		return start, end, err
	}
	if b.Record.Status == "revoked" {
		now := s.now()
		return now.Add(-time.Hour), now, nil
	}
	nb, na := b.Cert.NotBefore, b.Cert.NotAfter
	life := na.Sub(nb)
	return nb.Add(life * 2 / 3), nb.Add(life * 5 / 6), nil
}

// renewalInfo answers GET renewalInfo/{certID} (RFC 9773 section 4.2).
func (s *Server) renewalInfo(w http.ResponseWriter, r *http.Request) {
	start, end, err := s.window(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Retry-After", "21600")
	writeJSON(w, http.StatusOK, map[string]any{
		"suggestedWindow": map[string]string{"start": start.UTC().Format(time.RFC3339), "end": end.UTC().Format(time.RFC3339)},
	})
}

// replacedSerial checks the replaces field of a newOrder (RFC 9773 section
// 5): the certificate exists here and was ordered by this account.
func (s *Server) replacedSerial(ctx context.Context, req *request, certID string) (string, error) {
	serial, _ := parseCertID(certID)
	if serial == "" {
		return "", malformed("replaces: %q is not an RFC 9773 certificate identifier", certID)
	}
	if _, _, err := s.window(ctx, certID); err != nil {
		return "", malformed("replaces: no such certificate")
	}
	b, err := s.ca.Bundle(ctx, serial)
	if err != nil {
		return "", err
	}
	if b.Record.Requester != requester(req.account.ID) {
		return "", unauthorized("replaces: the certificate was not ordered by this account")
	}
	if b.Record.RenewedBy != "" {
		return "", prob(probAlreadyReplaced, http.StatusConflict, "replaces: the certificate was already replaced")
	}
	return serial, nil
}
