package signer

import (
	"fmt"

	pkcs11uri "github.com/stefanberger/go-pkcs11uri"
)

// keyURI formats the RFC 7512 URI of the private key with the given label.
// The URI names the object only: the pool is the set of tokens, and every
// member holds the same labels.
func keyURI(label string) string {
	u := pkcs11uri.New()
	u.AddPathAttributeUnencoded("object", []byte(label))
	u.AddPathAttributeUnencoded("type", []byte("private"))
	s, err := u.Format()
	if err != nil {
		// Format fails only on attributes we never set.
		panic(err)
	}
	return s
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
