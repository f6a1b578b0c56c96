package signer

import (
	"fmt"
	"strings"

	pkcs11uri "github.com/stefanberger/go-pkcs11uri"
)

// keyURI formats the RFC 7512 URI of the private key with the given label.
// The URI names the object only: the pool is the set of tokens, and every
// member holds the same labels. The attributes come in a fixed order so the
// URI stored with a CA is the same on every run.
func keyURI(label string) string {
	return "pkcs11:object=" + escapeAttr(label) + ";type=private"
}

// escapeAttr percent-encodes a path attribute value: RFC 7512 section 2.3
// allows unreserved characters and a few sub-delims unencoded.
func escapeAttr(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~:[]@!$'()*+,=&", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// parseKeyURI returns the object label of an RFC 7512 URI. A URI that names
// a PIN is refused: PINs come from the configuration's pin source only.
func parseKeyURI(s string) (string, error) {
	u := pkcs11uri.New()
	if err := u.Parse(s); err != nil {
		return "", fmt.Errorf("key URI %q: %w", s, err)
	}
	if u.HasPIN() {
		return "", fmt.Errorf("key URI %q: a PIN in the URI is not accepted", s)
	}
	if t, ok := u.GetPathAttribute("type", false); ok && t != "private" {
		return "", fmt.Errorf("key URI %q: type must be private", s)
	}
	label, ok := u.GetPathAttribute("object", false)
	if !ok || label == "" {
		return "", fmt.Errorf("key URI %q: no object label", s)
	}
	return label, nil
}
