package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/internal/certquery"
)

var _ storage.ACMEStore = (*Store)(nil)

// ACME state. The compare-and-set methods are one UPDATE ... WHERE status =
// from: under READ COMMITTED the second of two concurrent updaters re-checks
// the row after the first commits and matches nothing, so exactly one wins.

// InsertACMENonce implements storage.ACMEStore.
func (s *Store) InsertACMENonce(ctx context.Context, nonce string, expires time.Time) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO acme_nonces (nonce, expires) VALUES ($1, $2)`, nonce, expires.UTC()); err != nil {
		return wrap(err, "insert ACME nonce")
	}
	return nil
}

// ConsumeACMENonce implements storage.ACMEStore.
func (s *Store) ConsumeACMENonce(ctx context.Context, nonce string, now time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM acme_nonces WHERE nonce = $1 AND expires > $2`, nonce, now.UTC())
	if err != nil {
		return false, wrap(err, "consume ACME nonce")
	}
	// Drop a few expired nonces each time, so the table stays small
	// without a janitor. SKIP LOCKED keeps replicas from queueing here.
	if _, err := s.pool.Exec(ctx, `DELETE FROM acme_nonces WHERE nonce IN
		(SELECT nonce FROM acme_nonces WHERE expires <= $1 LIMIT 16 FOR UPDATE SKIP LOCKED)`, now.UTC()); err != nil {
		return false, wrap(err, "purge ACME nonces")
	}
	return tag.RowsAffected() == 1, nil
}

// InsertACMEAccount implements storage.ACMEStore.
func (s *Store) InsertACMEAccount(ctx context.Context, a storage.ACMEAccount) error {
	contact := a.Contact
	if contact == nil {
		contact = []string{}
	}
	cj, err := json.Marshal(contact)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "postgres: encode contact")
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO acme_accounts
			(id, profile, thumbprint, jwk, status, contact, terms_agreed, eab_kid, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			a.ID, a.Profile, a.Thumbprint, a.JWK, a.Status, string(cj), a.TermsAgreed, nullString(a.EABKeyID), a.CreatedAt.UTC())
		if err != nil {
			return wrap(err, "insert ACME account")
		}
		if a.EABKeyID == "" {
			return nil
		}
		var bound *string
		err = tx.QueryRow(ctx, `SELECT account_id FROM acme_eab_keys WHERE kid = $1 AND profile = $2 FOR UPDATE`, a.EABKeyID, a.Profile).Scan(&bound)
		if errors.Is(err, pgx.ErrNoRows) {
			return errs.New(errs.NotFound, "postgres: no EAB key %q in profile %s", a.EABKeyID, a.Profile)
		}
		if err != nil {
			return wrap(err, "read EAB key")
		}
		if bound != nil {
			return errs.New(errs.Conflict, "postgres: EAB key %q is already bound to an account", a.EABKeyID)
		}
		if _, err := tx.Exec(ctx, `UPDATE acme_eab_keys SET account_id = $1 WHERE kid = $2`, a.ID, a.EABKeyID); err != nil {
			return wrap(err, "bind EAB key")
		}
		return nil
	})
}

const acmeAccountCols = `id, profile, thumbprint, jwk, status, contact, terms_agreed, eab_kid, created_at`

func (s *Store) getACMEAccount(ctx context.Context, what, where string, args ...any) (storage.ACMEAccount, error) {
	var a storage.ACMEAccount
	var contact string
	var eab *string
	err := s.pool.QueryRow(ctx, `SELECT `+acmeAccountCols+` FROM acme_accounts WHERE `+where, args...).
		Scan(&a.ID, &a.Profile, &a.Thumbprint, &a.JWK, &a.Status, &contact, &a.TermsAgreed, &eab, &a.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, errs.New(errs.NotFound, "postgres: no ACME account %s", what)
	}
	if err != nil {
		return a, wrap(err, "get ACME account")
	}
	if err := json.Unmarshal([]byte(contact), &a.Contact); err != nil {
		return a, errs.Wrap(errs.Internal, err, "postgres: decode contact")
	}
	if len(a.Contact) == 0 {
		a.Contact = nil
	}
	if eab != nil {
		a.EABKeyID = *eab
	}
	a.CreatedAt = a.CreatedAt.UTC()
	return a, nil
}

// GetACMEAccount implements storage.ACMEStore.
func (s *Store) GetACMEAccount(ctx context.Context, id string) (storage.ACMEAccount, error) {
	return s.getACMEAccount(ctx, id, `id = $1`, id)
}

// ACMEAccountByThumbprint implements storage.ACMEStore.
func (s *Store) ACMEAccountByThumbprint(ctx context.Context, profile, thumbprint string) (storage.ACMEAccount, error) {
	return s.getACMEAccount(ctx, "with that key", `profile = $1 AND thumbprint = $2`, profile, thumbprint)
}

// UpdateACMEAccount implements storage.ACMEStore.
func (s *Store) UpdateACMEAccount(ctx context.Context, a storage.ACMEAccount) error {
	contact := a.Contact
	if contact == nil {
		contact = []string{}
	}
	cj, err := json.Marshal(contact)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "postgres: encode contact")
	}
	tag, err := s.pool.Exec(ctx, `UPDATE acme_accounts SET status = $1, contact = $2, thumbprint = $3, jwk = $4 WHERE id = $5`,
		a.Status, string(cj), a.Thumbprint, a.JWK, a.ID)
	if err != nil {
		return wrap(err, "update ACME account %s", a.ID)
	}
	if tag.RowsAffected() == 0 {
		return errs.New(errs.NotFound, "postgres: no ACME account %s", a.ID)
	}
	return nil
}

// InsertACMEEABKey implements storage.ACMEStore.
func (s *Store) InsertACMEEABKey(ctx context.Context, k storage.ACMEEABKey, audit storage.AuditEvent) error {
	return s.audited(ctx, "insert EAB key "+k.KeyID, audit, func(tx pgx.Tx) error {
		names, err := encodeList(k.Names)
		if err != nil {
			return errs.Wrap(errs.Internal, err, "postgres: encode the names of EAB key %s", k.KeyID)
		}
		_, err = tx.Exec(ctx, `INSERT INTO acme_eab_keys (kid, profile, hmac_key, created_at, names) VALUES ($1, $2, $3, $4, $5)`,
			k.KeyID, k.Profile, k.HMACKey, k.CreatedAt.UTC(), names)
		if err != nil {
			return wrap(err, "insert EAB key %s", k.KeyID)
		}
		return nil
	})
}

// GetACMEEABKey implements storage.ACMEStore.
func (s *Store) GetACMEEABKey(ctx context.Context, keyID string) (storage.ACMEEABKey, error) {
	k := storage.ACMEEABKey{KeyID: keyID}
	var acct *string
	var names string
	err := s.pool.QueryRow(ctx, `SELECT profile, hmac_key, created_at, account_id, names::text FROM acme_eab_keys WHERE kid = $1`, keyID).
		Scan(&k.Profile, &k.HMACKey, &k.CreatedAt, &acct, &names)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, errs.New(errs.NotFound, "postgres: no EAB key %q", keyID)
	}
	if err != nil {
		return k, wrap(err, "get EAB key")
	}
	k.CreatedAt = k.CreatedAt.UTC()
	if acct != nil {
		k.AccountID = *acct
	}
	if k.Names, err = decodeList(names); err != nil {
		return k, errs.Wrap(errs.Internal, err, "postgres: the names of EAB key %s", keyID)
	}
	return k, nil
}

// InsertACMEOrder implements storage.ACMEStore.
func (s *Store) InsertACMEOrder(ctx context.Context, o storage.ACMEOrder, authzs []storage.ACMEAuthz) error {
	ids, err := json.Marshal(o.Identifiers)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "postgres: encode identifiers")
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO acme_orders
			(id, account_id, profile, status, identifiers, expires, error, cert_serial, replaces, created_at, names_key)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			o.ID, o.AccountID, o.Profile, o.Status, string(ids), o.Expires.UTC(), nullBytes(o.Error),
			nullString(o.CertSerial), nullString(o.Replaces), o.CreatedAt.UTC(), certquery.NamesKey(storage.NamesOf(o.Identifiers)))
		for _, a := range authzs {
			b.Queue(`INSERT INTO acme_authzs
				(id, order_id, account_id, position, id_type, id_value, wildcard, status, expires)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				a.ID, o.ID, a.AccountID, a.Position, a.Identifier.Type, a.Identifier.Value, a.Wildcard, a.Status, a.Expires.UTC())
			for i, c := range a.Challenges {
				b.Queue(`INSERT INTO acme_challenges
					(id, authz_id, position, type, token, status, validated, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
					c.ID, a.ID, i, c.Type, c.Token, c.Status, nullTime(c.Validated), nullBytes(c.Error))
			}
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return wrap(err, "insert ACME order")
		}
		return nil
	})
}

// GetACMEOrder implements storage.ACMEStore.
func (s *Store) GetACMEOrder(ctx context.Context, id string) (storage.ACMEOrder, error) {
	o := storage.ACMEOrder{ID: id}
	var ids string
	var serial, replaces *string
	err := s.pool.QueryRow(ctx, `SELECT account_id, profile, status, identifiers, expires, error, cert_serial, replaces, created_at
		FROM acme_orders WHERE id = $1`, id).
		Scan(&o.AccountID, &o.Profile, &o.Status, &ids, &o.Expires, &o.Error, &serial, &replaces, &o.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, errs.New(errs.NotFound, "postgres: no ACME order %s", id)
	}
	if err != nil {
		return o, wrap(err, "get ACME order")
	}
	if err := json.Unmarshal([]byte(ids), &o.Identifiers); err != nil {
		return o, errs.Wrap(errs.Internal, err, "postgres: decode identifiers")
	}
	if serial != nil {
		o.CertSerial = *serial
	}
	if replaces != nil {
		o.Replaces = *replaces
	}
	o.Expires, o.CreatedAt, o.Error = o.Expires.UTC(), o.CreatedAt.UTC(), nullBytes(o.Error)
	return o, nil
}

// CountACMEOrders implements storage.ACMEStore (on acme_orders_account_idx).
func (s *Store) CountACMEOrders(ctx context.Context, accountID string, since time.Time) (int, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM acme_orders WHERE account_id = $1 AND created_at >= $2`,
		accountID, since).Scan(&n)
	if err != nil {
		return 0, wrap(err, "count ACME orders of account %q", accountID)
	}
	return int(n), nil
}

// CountIssuedACMEOrders implements storage.ACMEStore (on
// acme_orders_names_idx).
func (s *Store) CountIssuedACMEOrders(ctx context.Context, profile string, ids []storage.ACMEIdentifier, since time.Time) (int, time.Time, error) {
	var (
		n      int64
		oldest *time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT count(*), min(created_at) FROM acme_orders
		WHERE profile = $1 AND names_key = $2 AND created_at >= $3 AND status = 'valid'`,
		profile, certquery.NamesKey(storage.NamesOf(ids)), since).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, wrap(err, "count issued ACME orders of profile %q", profile)
	}
	if oldest == nil {
		return int(n), time.Time{}, nil
	}
	return int(n), oldest.UTC(), nil
}

// CountFailedACMEValidations implements storage.ACMEStore (on
// acme_authzs_account_identifier_idx).
func (s *Store) CountFailedACMEValidations(ctx context.Context, accountID string, id storage.ACMEIdentifier, since time.Time) (int, time.Time, error) {
	var (
		n      int64
		oldest *time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT count(*), min(c.validated) FROM acme_authzs a JOIN acme_challenges c ON c.authz_id = a.id
		WHERE a.account_id = $1 AND a.id_type = $2 AND a.id_value = $3 AND c.status = 'invalid' AND c.validated >= $4`,
		accountID, id.Type, id.Value, since).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, wrap(err, "count failed ACME validations of account %q", accountID)
	}
	if oldest == nil {
		return int(n), time.Time{}, nil
	}
	return int(n), oldest.UTC(), nil
}

// ListACMEOrders implements storage.ACMEStore.
func (s *Store) ListACMEOrders(ctx context.Context, accountID, after string, now time.Time, limit int) ([]string, error) {
	q, args := `SELECT id FROM acme_orders WHERE account_id = $1 AND status <> 'invalid'
		AND NOT (status IN ('pending', 'ready') AND expires <= $2)`, []any{accountID, now.UTC()}
	if after != "" {
		q += ` AND (created_at, id) < (SELECT created_at, id FROM acme_orders WHERE id = $3 AND account_id = $1)`
		args = append(args, after)
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY created_at DESC, id DESC LIMIT $`+strconv.Itoa(len(args)+1), append(args, limit)...)
	if err != nil {
		return nil, wrap(err, "list ACME orders")
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrap(err, "list ACME orders")
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func (s *Store) casStatus(ctx context.Context, table, id, from, to, extra string, args ...any) (bool, error) {
	n := len(args)
	q := `UPDATE ` + table + ` SET status = $1` + extra + ` WHERE id = $` + itoa(n+2) + ` AND status = $` + itoa(n+3)
	tag, err := s.pool.Exec(ctx, q, append(append([]any{to}, args...), id, from)...)
	if err != nil {
		return false, wrap(err, "set %s status", table)
	}
	if tag.RowsAffected() == 1 {
		return true, nil
	}
	var one int
	err = s.pool.QueryRow(ctx, `SELECT 1 FROM `+table+` WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, errs.New(errs.NotFound, "postgres: no %s row %s", table, id)
	}
	if err != nil {
		return false, wrap(err, "set %s status", table)
	}
	return false, nil
}

func itoa(i int) string { return string(rune('0' + i)) }

// SetACMEOrderStatus implements storage.ACMEStore.
func (s *Store) SetACMEOrderStatus(ctx context.Context, id, from, to string, errDoc []byte, certSerial string) (bool, error) {
	return s.casStatus(ctx, "acme_orders", id, from, to, `, error = COALESCE($2, error), cert_serial = COALESCE($3, cert_serial)`,
		nullBytes(errDoc), nullString(certSerial))
}

// ClaimACMEOrder implements storage.ACMEStore.
func (s *Store) ClaimACMEOrder(ctx context.Context, id string, now time.Time) (bool, error) {
	return s.casStatus(ctx, "acme_orders", id, storage.ACMEReady, storage.ACMEProcessing, `, processing_at = $2`, now.UTC())
}

// StaleACMEOrders implements storage.ACMEStore. A NULL processing_at is
// not less than anything, so orders claimed by a pending certificate stay
// out.
func (s *Store) StaleACMEOrders(ctx context.Context, before time.Time, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM acme_orders
		WHERE status = $1 AND processing_at < $2
		ORDER BY processing_at, id LIMIT $3`, storage.ACMEProcessing, before.UTC(), limit)
	if err != nil {
		return nil, wrap(err, "stale ACME orders")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrap(err, "stale ACME orders")
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return ids, nil
}

// SetACMEAuthzStatus implements storage.ACMEStore.
func (s *Store) SetACMEAuthzStatus(ctx context.Context, id, from, to string) (bool, error) {
	return s.casStatus(ctx, "acme_authzs", id, from, to, "")
}

// SetACMEChallengeStatus implements storage.ACMEStore.
func (s *Store) SetACMEChallengeStatus(ctx context.Context, id, from, to string, validated time.Time, errDoc []byte) (bool, error) {
	return s.casStatus(ctx, "acme_challenges", id, from, to, `, validated = COALESCE($2, validated), error = COALESCE($3, error)`,
		nullTime(validated), nullBytes(errDoc))
}

// StartACMEValidation implements storage.ACMEStore.
func (s *Store) StartACMEValidation(ctx context.Context, id string, at time.Time) (bool, error) {
	return s.casStatus(ctx, "acme_challenges", id, storage.ACMEPending, storage.ACMEProcessing, `, processing_at = $2`, at)
}

// StaleACMEChallenges implements storage.ACMEStore.
func (s *Store) StaleACMEChallenges(ctx context.Context, before time.Time, limit int) ([]storage.ACMEChallengeRef, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.id, c.authz_id, a.order_id
		FROM acme_challenges c JOIN acme_authzs a ON a.id = c.authz_id
		WHERE c.status = $1 AND (c.processing_at IS NULL OR c.processing_at < $2)
		ORDER BY c.processing_at LIMIT $3`, storage.ACMEProcessing, before, limit)
	if err != nil {
		return nil, wrap(err, "stale ACME challenges")
	}
	refs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.ACMEChallengeRef, error) {
		var r storage.ACMEChallengeRef
		err := row.Scan(&r.ChallengeID, &r.AuthzID, &r.OrderID)
		return r, err
	})
	if err != nil {
		return nil, wrap(err, "stale ACME challenges")
	}
	return refs, nil
}

// RecordACMEValidation implements storage.ACMEStore in one transaction.
// It locks the order row first: two validations of one order's
// authorizations finishing together then run one after the other, and
// the second (a fresh snapshot per statement under READ COMMITTED) sees
// the first's authorization when it checks whether all are valid.
func (s *Store) RecordACMEValidation(ctx context.Context, challengeID, authzID, orderID string, valid bool, validated time.Time, problem []byte) (bool, error) {
	to := storage.ACMEInvalid
	if valid {
		to = storage.ACMEValid
	}
	const what = "record ACME validation"
	var ready bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		ready = false
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM acme_orders WHERE id = $1 FOR UPDATE`, orderID).Scan(&one); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return wrap(err, what)
		}
		tag, err := tx.Exec(ctx, `UPDATE acme_challenges SET status = $1, validated = COALESCE($2, validated), error = COALESCE($3, error)
			WHERE id = $4 AND status IN ($5, $6)`, to, nullTime(validated), nullBytes(problem), challengeID, storage.ACMEPending, storage.ACMEProcessing)
		if err != nil {
			return wrap(err, what)
		}
		if tag.RowsAffected() != 1 {
			err = tx.QueryRow(ctx, `SELECT 1 FROM acme_challenges WHERE id = $1`, challengeID).Scan(&one)
			if errors.Is(err, pgx.ErrNoRows) {
				return errs.New(errs.NotFound, "postgres: no acme_challenges row %s", challengeID)
			}
			if err != nil {
				return wrap(err, what)
			}
			return nil // already recorded: change nothing
		}
		if _, err := tx.Exec(ctx, `UPDATE acme_authzs SET status = $1 WHERE id = $2 AND status = $3`,
			to, authzID, storage.ACMEPending); err != nil {
			return wrap(err, what)
		}
		if !valid {
			if _, err := tx.Exec(ctx, `UPDATE acme_orders SET status = $1 WHERE id = $2 AND status = $3`,
				storage.ACMEInvalid, orderID, storage.ACMEPending); err != nil {
				return wrap(err, what)
			}
			return nil
		}
		tag, err = tx.Exec(ctx, `UPDATE acme_orders SET status = $1 WHERE id = $2 AND status = $3
			AND NOT EXISTS (SELECT 1 FROM acme_authzs WHERE order_id = $2 AND status <> $4)`,
			storage.ACMEReady, orderID, storage.ACMEPending, storage.ACMEValid)
		if err != nil {
			return wrap(err, what)
		}
		ready = tag.RowsAffected() == 1
		return nil
	})
	return ready, err
}

func (s *Store) queryAuthzs(ctx context.Context, where string, arg string) ([]storage.ACMEAuthz, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, order_id, account_id, position, id_type, id_value, wildcard, status, expires
		FROM acme_authzs WHERE `+where+` ORDER BY position`, arg)
	if err != nil {
		return nil, wrap(err, "get ACME authorizations")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.ACMEAuthz, error) {
		var a storage.ACMEAuthz
		err := r.Scan(&a.ID, &a.OrderID, &a.AccountID, &a.Position, &a.Identifier.Type, &a.Identifier.Value, &a.Wildcard, &a.Status, &a.Expires)
		a.Expires = a.Expires.UTC()
		return a, err
	})
	if err != nil {
		return nil, wrap(err, "get ACME authorizations")
	}
	for i := range out {
		if out[i].Challenges, err = s.challenges(ctx, `authz_id = $1 ORDER BY position`, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) challenges(ctx context.Context, where string, arg string) ([]storage.ACMEChallenge, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, authz_id, type, token, status, validated, error FROM acme_challenges WHERE `+where, arg)
	if err != nil {
		return nil, wrap(err, "get ACME challenges")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.ACMEChallenge, error) {
		var c storage.ACMEChallenge
		var validated *time.Time
		err := r.Scan(&c.ID, &c.AuthzID, &c.Type, &c.Token, &c.Status, &validated, &c.Error)
		if validated != nil {
			c.Validated = validated.UTC()
		}
		c.Error = nullBytes(c.Error)
		return c, err
	})
	if err != nil {
		return nil, wrap(err, "get ACME challenges")
	}
	return out, nil
}

// GetACMEAuthz implements storage.ACMEStore.
func (s *Store) GetACMEAuthz(ctx context.Context, id string) (storage.ACMEAuthz, error) {
	l, err := s.queryAuthzs(ctx, `id = $1`, id)
	if err != nil {
		return storage.ACMEAuthz{}, err
	}
	if len(l) == 0 {
		return storage.ACMEAuthz{}, errs.New(errs.NotFound, "postgres: no ACME authorization %s", id)
	}
	return l[0], nil
}

// ACMEOrderAuthzs implements storage.ACMEStore.
func (s *Store) ACMEOrderAuthzs(ctx context.Context, orderID string) ([]storage.ACMEAuthz, error) {
	return s.queryAuthzs(ctx, `order_id = $1`, orderID)
}

// GetACMEChallenge implements storage.ACMEStore.
func (s *Store) GetACMEChallenge(ctx context.Context, id string) (storage.ACMEChallenge, error) {
	l, err := s.challenges(ctx, `id = $1`, id)
	if err != nil {
		return storage.ACMEChallenge{}, err
	}
	if len(l) == 0 {
		return storage.ACMEChallenge{}, errs.New(errs.NotFound, "postgres: no ACME challenge %s", id)
	}
	return l[0], nil
}
