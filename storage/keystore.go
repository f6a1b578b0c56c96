package storage

import "context"

// KeystoreStore keeps the key-encryption keys of the keystore (the keys the
// gateway generates and holds) in their wrapped form, the lines of the
// KEK file ("pkcs11-aes-gcm:LABEL:HEX", the current key first), so that every replica of one
// store uses the same key without copying files. Only a key wrapped by a
// token key goes there: a copy of the database does not open it. Both
// stores implement it; it is meant to be embedded into Store.
type KeystoreStore interface {
	// SharedKEK returns the wrapped key-encryption key, or errs.NotFound
	// if none was published.
	SharedKEK(ctx context.Context) (string, error)
	// InsertSharedKEK publishes the wrapped key-encryption key and
	// appends its audit event in the same commit. It returns errs.Conflict,
	// and changes nothing, if one is published already (another replica
	// was first: read that one); an empty line is errs.Malformed.
	InsertSharedKEK(ctx context.Context, wrapped string, audit AuditEvent) error
	// UpdateSharedKEK replaces the published keys old with wrapped (a
	// rotation, or keys retired) and appends its audit event in the same
	// commit. It returns errs.Conflict, and changes nothing, if the
	// published keys are not old any more (another process changed them:
	// read them again), errs.NotFound if none are published.
	UpdateSharedKEK(ctx context.Context, old, wrapped string, audit AuditEvent) error
}

// SealedKey is a key the gateway holds sealed under a key-encryption key
// (ca.Sealer): a certificate's (Serial) or an upstream account's
// (Upstream and Directory). Sealed is opaque to the store.
type SealedKey struct {
	Serial    string
	Upstream  string
	Directory string
	Sealed    []byte
}

// SealedKeyStore lists the keys the gateway holds and seals them anew, for
// a rotation of the key-encryption key (gateway keystore). Both stores
// implement it; it is meant to be embedded into Store.
type SealedKeyStore interface {
	// SealedUpstreamKeys returns the upstream accounts' keys.
	SealedUpstreamKeys(ctx context.Context) ([]SealedKey, error)
	// SealedCertificateKeys returns the held keys of certificates whose
	// serial sorts after after, by serial, at most limit.
	SealedCertificateKeys(ctx context.Context, after string, limit int) ([]SealedKey, error)
	// ResealKey replaces the sealed key k names, if it is still k.Sealed,
	// with sealed; errs.Conflict, changing nothing, if it changed
	// meanwhile, errs.NotFound if there is no such key.
	ResealKey(ctx context.Context, k SealedKey, sealed []byte) error
}
