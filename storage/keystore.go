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
