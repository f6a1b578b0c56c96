package api

import (
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"strings"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// BlockedKey is a key the gateway certifies no more (ca.Core.BlockKey).
type BlockedKey struct {
	Hash      string    `json:"hash"` // hex SHA-256 of the SubjectPublicKeyInfo
	BlockedAt time.Time `json:"blocked_at"`
	Serial    string    `json:"serial,omitempty"` // the certificate whose keyCompromise revocation blocked it
	By        string    `json:"by"`
	Reason    string    `json:"reason"`
}

func blockedKeyJSON(k storage.BlockedKey) BlockedKey {
	return BlockedKey{Hash: hex.EncodeToString(k.Hash), BlockedAt: k.At.UTC(), Serial: k.Serial, By: k.By, Reason: k.Reason}
}

// blockKey blocks a key: POST /blocked-keys with {"public_key": PEM,
// "reason"}, the PEM a PUBLIC KEY, or a CERTIFICATE or CERTIFICATE
// REQUEST whose key is meant. 201 with the record; 200 with it when the
// key was blocked already.
func (a *API) blockKey(w http.ResponseWriter, r *http.Request) {
	var body struct {
		PublicKey string `json:"public_key"`
		Reason    string `json:"reason"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		a.problem(w, r, err)
		return
	}
	pub, err := PublicKeyOf(body.PublicKey)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	reason := strings.TrimSpace(body.Reason)
	if reason == "" || len(reason) > 500 {
		a.problem(w, r, errs.New(errs.Malformed, "field \"reason\": why the key is blocked, 1 to 500 characters"))
		return
	}
	k, blocked, err := a.core.BlockKey(r.Context(), pub, requester(r), reason)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	status := http.StatusCreated
	if !blocked {
		status = http.StatusOK
	}
	writeJSON(w, status, blockedKeyJSON(k))
}

// PublicKeyOf reads the public key of a PEM PUBLIC KEY, CERTIFICATE or
// CERTIFICATE REQUEST (the REST API's and gateway cert block-key's).
func PublicKeyOf(p string) (crypto.PublicKey, error) {
	b, _ := pem.Decode([]byte(p))
	if b == nil {
		return nil, errs.New(errs.Malformed, "field \"public_key\": not PEM")
	}
	var pub crypto.PublicKey
	var err error
	switch b.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(b.Bytes)
	case "CERTIFICATE":
		var c *x509.Certificate
		if c, err = x509.ParseCertificate(b.Bytes); err == nil {
			pub = c.PublicKey
		}
	case "CERTIFICATE REQUEST":
		var c *x509.CertificateRequest
		if c, err = x509.ParseCertificateRequest(b.Bytes); err == nil {
			pub = c.PublicKey
		}
	default:
		return nil, errs.New(errs.Malformed, "field \"public_key\": PEM %q; want PUBLIC KEY, CERTIFICATE or CERTIFICATE REQUEST (never a private key)", b.Type)
	}
	if err != nil {
		return nil, errs.Wrap(errs.Malformed, err, "field \"public_key\": %s", b.Type)
	}
	return pub, nil
}

// blockedKeys lists the blocked keys, oldest first: GET /blocked-keys.
func (a *API) blockedKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := a.core.BlockedKeys(r.Context())
	if err != nil {
		a.problem(w, r, err)
		return
	}
	out := struct {
		BlockedKeys []BlockedKey `json:"blocked_keys"`
	}{BlockedKeys: []BlockedKey{}}
	for _, k := range keys {
		out.BlockedKeys = append(out.BlockedKeys, blockedKeyJSON(k))
	}
	writeJSON(w, http.StatusOK, out)
}
