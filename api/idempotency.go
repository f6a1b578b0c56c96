package api

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// Idempotency keys (draft-ietf-httpapi-idempotency-key-header): a pipeline
// that sends POST /profiles/{profile}/certificates or
// /certificates/{serial}/renew with an Idempotency-Key and retries it
// after a timeout or a dropped connection gets the certificate the first
// attempt issued, not a second one. Keys belong to the token that sends
// them and are remembered for idempotencyTTL in the store, so every
// replica knows them.
const (
	idempotencyHeader = "Idempotency-Key"
	idempotencyTTL    = 24 * time.Hour
	maxIdempotencyKey = 255
	// replayedHeader marks an answer repeated for an idempotency key.
	replayedHeader = "Idempotent-Replayed"
)

// idempotencyKey reads the Idempotency-Key of r: the draft's Structured
// Field string ("..."), or the bare value many clients send; printable
// ASCII, at most maxIdempotencyKey characters. ok is false without one.
func idempotencyKey(r *http.Request) (key string, ok bool, err error) {
	vals := r.Header.Values(idempotencyHeader)
	switch len(vals) {
	case 0:
		return "", false, nil
	case 1:
	default:
		return "", false, errs.New(errs.Malformed, "header %s: given %d times; a request has one", idempotencyHeader, len(vals))
	}
	v := strings.TrimSpace(vals[0])
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
		if strings.ContainsAny(v, `"\`) {
			return "", false, errs.New(errs.Malformed, "header %s: a quoted key may not hold quotes or backslashes", idempotencyHeader)
		}
	}
	if v == "" || len(v) > maxIdempotencyKey {
		return "", false, errs.New(errs.Malformed, "header %s: want 1 to %d characters, got %d", idempotencyHeader, maxIdempotencyKey, len(v))
	}
	for i := range len(v) {
		if v[i] < 0x20 || v[i] > 0x7e {
			return "", false, errs.New(errs.Malformed, "header %s: character %d is not printable ASCII", idempotencyHeader, i+1)
		}
	}
	return v, true, nil
}

// idempotencyRoute names what a request asks for, for its fingerprint:
// the route, with its parameters, a serial in its canonical spelling, so
// that a retry that writes the serial otherwise (colons, capitals) is the
// same request.
func idempotencyRoute(r *http.Request) string {
	rc := chi.RouteContext(r.Context())
	if rc == nil || rc.RoutePattern() == "" {
		return r.URL.Path
	}
	var b strings.Builder
	b.WriteString(rc.RoutePattern())
	for i, k := range rc.URLParams.Keys {
		v := rc.URLParams.Values[i]
		if k == "*" { // a sub-router's mount point, not a parameter
			continue
		}
		if k == "serial" {
			if n, err := ca.ParseSerialHex(v); err == nil {
				v = ca.SerialHex(n)
			}
		}
		b.WriteString(" " + k + "=" + v)
	}
	return b.String()
}

// idempotent serves a request that issues under its Idempotency-Key, if
// it has one. The first request with a key claims it in the store, runs,
// and records the certificate it answered (or gives the key back when it
// issued nothing, so a corrected retry may use it). A later request with
// the key and the same method, path and body gets that certificate again
// (replayedHeader; a generated key the gateway holds comes with it, its
// export audited), or, if the first was answered 202, the request as it
// stands now (replayRequest); with another request, a 422; while the
// first is under way, a 409. A first request that died is taken for dead
// after the core's ClaimLease.
func (a *API) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok, err := idempotencyKey(r)
		if err != nil {
			a.problem(w, r, err)
			return
		}
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			a.problem(w, r, jsonError(err))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		fp := sha256.New()
		fp.Write([]byte(r.Method + " " + idempotencyRoute(r) + "\n"))
		fp.Write(body)
		tok := tokenOf(r)
		now := a.now().UTC().Truncate(time.Microsecond)
		claim := storage.IdempotencyKey{TokenID: tok.ID, Key: key, Fingerprint: fp.Sum(nil), ClaimedAt: now, ExpiresAt: now.Add(idempotencyTTL)}
		held, claimed, err := a.store.ClaimIdempotencyKey(r.Context(), claim, now.Add(-a.core.ClaimLease()))
		if err != nil {
			a.problem(w, r, err)
			return
		}
		if !claimed {
			a.answerHeld(w, r, key, held, claim.Fingerprint, body)
			return
		}

		out := &heldAnswer{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(out, r)
		// The answer waits for the record: a retry that follows it at once
		// finds the certificate, not a request under way.
		ctx := context.WithoutCancel(r.Context())
		serial, issued := strings.CutPrefix(out.header.Get("Location"), "/api/v1/certificates/")
		request, waits := strings.CutPrefix(out.header.Get("Location"), "/api/v1/requests/")
		switch {
		case issued && (out.status == http.StatusCreated || out.status == http.StatusOK):
			err = a.store.CompleteIdempotencyKey(ctx, tok.ID, key, now, serial, "", out.status)
		case waits && out.status == http.StatusAccepted:
			err = a.store.CompleteIdempotencyKey(ctx, tok.ID, key, now, "", request, out.status)
		default:
			err = a.store.ReleaseIdempotencyKey(ctx, tok.ID, key, now)
		}
		if err != nil {
			// The answer stands: a retry within the lease is told the
			// request is under way, and after it is served anew.
			a.log.Error("idempotency key not recorded", "token", tok.ID, "key", key, "serial", serial, "err", err)
		}
		out.sendTo(w)
	})
}

// answerHeld answers a request whose idempotency key another request
// holds (held).
func (a *API) answerHeld(w http.ResponseWriter, r *http.Request, key string, held storage.IdempotencyKey, fingerprint, body []byte) {
	switch {
	case !bytes.Equal(held.Fingerprint, fingerprint):
		// The draft's answer to a key reused for another request: 422.
		writeProblem(w, Problem{Type: problemTypePrefix + "idempotencyKeyReused", Title: "Idempotency-Key reused",
			Status: http.StatusUnprocessableEntity,
			Detail: "header " + idempotencyHeader + ": key \"" + key + "\" was sent at " + held.ClaimedAt.Format(timeFormat) +
				" with another request (method, path or body); a key names one request"})
	case held.RequestID != "":
		a.replayRequest(w, r, held, body)
	case held.Serial == "":
		w.Header().Set("Retry-After", "1")
		a.problem(w, r, errs.New(errs.Conflict, "header %s: the request sent with key %q at %s is under way; retry once it has answered",
			idempotencyHeader, key, held.ClaimedAt.Format(timeFormat)))
	default:
		a.replay(w, r, held, body)
	}
}

// replay answers again what the request that holds an idempotency key
// answered: its certificate and chain, and the key the gateway generated
// for it in the format the body asks for.
func (a *API) replay(w http.ResponseWriter, r *http.Request, held storage.IdempotencyKey, body []byte) {
	// The body was accepted once (the same bytes): only the key's format
	// is read again.
	var format struct {
		Format   string `json:"format"`
		Password string `json:"password"`
	}
	json.Unmarshal(body, &format)
	b, err := a.core.Bundle(r.Context(), held.Serial)
	if err != nil {
		a.problem(w, r, certError(held.Serial, err))
		return
	}
	issued := &ca.Issued{Serial: held.Serial, Issuer: b.Record.CA, Cert: b.Cert, Chain: b.Chain, Earlier: held.Status == http.StatusOK}
	if b.KeyPEM != nil {
		key, err := parseKeyPEM(b.KeyPEM)
		if err != nil {
			a.problem(w, r, errs.Wrap(errs.Internal, err, "held key of %s", held.Serial))
			return
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			a.problem(w, r, errs.New(errs.Internal, "held key of %s: %T is not a signer", held.Serial, key))
			return
		}
		if err := a.auditKeyExport(r, b.Record, "idempotent-replay"); err != nil {
			a.problem(w, r, err)
			return
		}
		issued.Key = signer
	}
	a.log.Info("idempotent replay", "serial", held.Serial, "requester", requester(r))
	w.Header().Set(replayedHeader, "true")
	a.writeIssued(w, r, issued, format.Format, format.Password, b.Record.Replaces)
}

// heldAnswer keeps a handler's answer until the idempotency key is
// recorded.
type heldAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (h *heldAnswer) Header() http.Header { return h.header }

func (h *heldAnswer) WriteHeader(status int) {
	if !h.wrote {
		h.status, h.wrote = status, true
	}
}

func (h *heldAnswer) Write(b []byte) (int, error) {
	h.wrote = true
	return h.body.Write(b)
}

func (h *heldAnswer) sendTo(w http.ResponseWriter) {
	for k, v := range h.header {
		w.Header()[k] = v
	}
	w.WriteHeader(h.status)
	w.Write(h.body.Bytes())
}

// replayRequest answers again a request whose idempotency key was
// answered 202 with a request (held for approval, or issued by an
// external CA in the background): as that request stands now, its
// certificate once issued (with the key the gateway generated for it), a
// 202 while it waits, its refusal otherwise. A generated-key request
// retried after a 202 thus gets the one key, not a second.
func (a *API) replayRequest(w http.ResponseWriter, r *http.Request, held storage.IdempotencyKey, body []byte) {
	issued, err := a.core.AnswerRequest(r.Context(), held.RequestID)
	if p, ok := ca.AsPending(err); ok {
		w.Header().Set(replayedHeader, "true")
		a.pending(w, p)
		return
	}
	if err != nil {
		a.problem(w, r, err)
		return
	}
	held.Serial, held.Status = issued.Serial, http.StatusOK
	a.replay(w, r, held, body)
}
