package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// Scopes a token can carry.
var Scopes = []string{"issue", "read", "revoke", "approve", "admin"}

// tokenPrefix marks gateway tokens so that secret scanners can find them.
const tokenPrefix = "gwt_"

// NewToken makes a bearer token: the secret to show once, and the record
// to store, which holds only the SHA-256 of the secret. The secret has 256
// random bits, so a fast hash is enough: there is nothing to brute-force.
func NewToken(name string, scopes []string, now time.Time) (string, storage.Token, error) {
	if name == "" {
		return "", storage.Token{}, errs.New(errs.Malformed, "token name is required")
	}
	if len(scopes) == 0 {
		return "", storage.Token{}, errs.New(errs.Malformed, "at least one scope is required (%v)", Scopes)
	}
	for _, s := range scopes {
		if !slices.Contains(Scopes, s) {
			return "", storage.Token{}, errs.New(errs.Malformed, "unknown scope %q (valid: %v)", s, Scopes)
		}
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", storage.Token{}, err
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return "", storage.Token{}, err
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, storage.Token{
		ID: hex.EncodeToString(id), Name: name, Hash: HashToken(secret),
		Scopes: slices.Clone(scopes), CreatedAt: now,
	}, nil
}

// HashToken is the stored form of a secret.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// LimitToken limits t to some certificate profiles (storage.Token.Profiles),
// each of which known must report as configured. With them, the token
// issues, reads and revokes under those profiles only, and the others'
// certificates do not exist for it. An admin token cannot be limited:
// admin also reaches the CAs, the audit trail and other tokens' work.
func LimitToken(t *storage.Token, profiles []string, known func(string) bool) error {
	if len(profiles) == 0 {
		return nil
	}
	if slices.Contains(t.Scopes, scopeAdmin) {
		return errs.New(errs.Malformed, "an admin token cannot be limited to profiles")
	}
	for _, p := range profiles {
		if !known(p) {
			return errs.New(errs.Malformed, "no profile %q in the configuration", p)
		}
	}
	t.Profiles = slices.Clone(profiles)
	return nil
}

// ExpireToken makes t stop working validFor after its creation, a
// duration as the configuration writes it ("90d"); "" leaves t valid for
// ever.
func ExpireToken(t *storage.Token, validFor string) error {
	if validFor == "" {
		return nil
	}
	d, err := config.ParseDuration(validFor)
	if err != nil || d <= 0 {
		return errs.New(errs.Malformed, "%q is not a positive duration such as \"90d\"", validFor)
	}
	t.ExpiresAt = t.CreatedAt.Add(d.D())
	return nil
}

// TokenCreated is the audit event of a new token, made by actor: its ID,
// name, scopes, profiles and expiry, never its secret or hash.
func TokenCreated(t storage.Token, actor string) storage.AuditEvent {
	detail := fmt.Sprintf("token %s name=%q scopes=%s", t.ID, t.Name, strings.Join(t.Scopes, ","))
	if len(t.Profiles) > 0 {
		detail += " profiles=" + strings.Join(t.Profiles, ",")
	}
	if !t.ExpiresAt.IsZero() {
		detail += " expires=" + t.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return storage.AuditEvent{At: t.CreatedAt, Actor: actor, Action: "token-create", Detail: detail}
}
