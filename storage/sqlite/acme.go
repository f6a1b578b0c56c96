package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/internal/certquery"
)

var _ storage.ACMEStore = (*Store)(nil)

// ACME state. Every write goes through the one writer (batch.go); the
// compare-and-set methods are a single UPDATE ... WHERE status = from, so
// the writer's serial order arbitrates races.

// InsertACMENonce implements storage.ACMEStore. The embedded store serves
// one process, so nonces live in its memory (nonce.go).
func (s *Store) InsertACMENonce(ctx context.Context, nonce string, expires time.Time) error {
	return s.nonces.insert(nonce, expires)
}

// ConsumeACMENonce implements storage.ACMEStore.
func (s *Store) ConsumeACMENonce(ctx context.Context, nonce string, now time.Time) (bool, error) {
	return s.nonces.consume(nonce, now), nil
}

// InsertACMEAccount implements storage.ACMEStore.
func (s *Store) InsertACMEAccount(ctx context.Context, a storage.ACMEAccount) error {
	contact, err := encodeList(a.Contact)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "sqlite: encode contact")
	}
	return s.writes.Do(ctx, "insert ACME account", func(ctx context.Context, tx *txn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO acme_accounts
			(id, profile, thumbprint, jwk, status, contact, terms_agreed, eab_kid, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.Profile, a.Thumbprint, a.JWK, a.Status, contact, boolInt(a.TermsAgreed), nullString(a.EABKeyID), micros(a.CreatedAt))
		if err != nil {
			return wrap(err, "insert ACME account")
		}
		if a.EABKeyID == "" {
			return nil
		}
		var bound sql.NullString
		err = tx.QueryRowContext(ctx, `SELECT account_id FROM acme_eab_keys WHERE kid = ? AND profile = ?`, a.EABKeyID, a.Profile).Scan(&bound)
		if errors.Is(err, sql.ErrNoRows) {
			return errs.New(errs.NotFound, "sqlite: no EAB key %q in profile %s", a.EABKeyID, a.Profile)
		}
		if err != nil {
			return wrap(err, "read EAB key")
		}
		if bound.Valid {
			return errs.New(errs.Conflict, "sqlite: EAB key %q is already bound to an account", a.EABKeyID)
		}
		_, err = tx.ExecContext(ctx, `UPDATE acme_eab_keys SET account_id = ? WHERE kid = ?`, a.ID, a.EABKeyID)
		if err != nil {
			return wrap(err, "bind EAB key")
		}
		return nil
	})
}

const acmeAccountCols = `id, profile, thumbprint, jwk, status, contact, terms_agreed, eab_kid, created_at`

func scanACMEAccount(row *sql.Row) (storage.ACMEAccount, error) {
	var a storage.ACMEAccount
	var contact string
	var terms int64
	var eab sql.NullString
	var created int64
	if err := row.Scan(&a.ID, &a.Profile, &a.Thumbprint, &a.JWK, &a.Status, &contact, &terms, &eab, &created); err != nil {
		return a, err
	}
	var err error
	if a.Contact, err = decodeList(contact); err != nil {
		return a, err
	}
	a.TermsAgreed, a.EABKeyID, a.CreatedAt = terms != 0, eab.String, fromMicros(created)
	return a, nil
}

func (s *Store) getACMEAccount(ctx context.Context, what, where string, args ...any) (storage.ACMEAccount, error) {
	a, err := scanACMEAccount(s.read.QueryRowContext(ctx, `SELECT `+acmeAccountCols+` FROM acme_accounts WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return a, errs.New(errs.NotFound, "sqlite: no ACME account %s", what)
	}
	if err != nil {
		return a, wrap(err, "get ACME account")
	}
	return a, nil
}

// GetACMEAccount implements storage.ACMEStore.
func (s *Store) GetACMEAccount(ctx context.Context, id string) (storage.ACMEAccount, error) {
	return s.getACMEAccount(ctx, id, `id = ?`, id)
}

// ACMEAccountByThumbprint implements storage.ACMEStore.
func (s *Store) ACMEAccountByThumbprint(ctx context.Context, profile, thumbprint string) (storage.ACMEAccount, error) {
	return s.getACMEAccount(ctx, "with that key", `profile = ? AND thumbprint = ?`, profile, thumbprint)
}

// UpdateACMEAccount implements storage.ACMEStore.
func (s *Store) UpdateACMEAccount(ctx context.Context, a storage.ACMEAccount) error {
	contact, err := encodeList(a.Contact)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "sqlite: encode contact")
	}
	return s.writes.Do(ctx, "update ACME account", func(ctx context.Context, tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE acme_accounts SET status = ?, contact = ?, thumbprint = ?, jwk = ? WHERE id = ?`,
			a.Status, contact, a.Thumbprint, a.JWK, a.ID)
		return acmeOneRow(res, err, "ACME account "+a.ID)
	})
}

func acmeOneRow(res sql.Result, err error, what string) error {
	if err != nil {
		return wrap(err, "update %s", what)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(err, "update %s", what)
	}
	if n == 0 {
		return errs.New(errs.NotFound, "sqlite: no %s", what)
	}
	return nil
}

// InsertACMEEABKey implements storage.ACMEStore.
func (s *Store) InsertACMEEABKey(ctx context.Context, k storage.ACMEEABKey, audit storage.AuditEvent) error {
	return s.writes.Do(ctx, "insert EAB key", audited(audit, func(ctx context.Context, tx *txn) error {
		names, err := encodeList(k.Names)
		if err != nil {
			return errs.Wrap(errs.Internal, err, "sqlite: encode the names of EAB key %s", k.KeyID)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO acme_eab_keys (kid, profile, hmac_key, created_at, names) VALUES (?, ?, ?, ?, ?)`,
			k.KeyID, k.Profile, k.HMACKey, micros(k.CreatedAt), names)
		if err != nil {
			return wrap(err, "insert EAB key %s", k.KeyID)
		}
		return nil
	}))
}

// GetACMEEABKey implements storage.ACMEStore.
func (s *Store) GetACMEEABKey(ctx context.Context, keyID string) (storage.ACMEEABKey, error) {
	k := storage.ACMEEABKey{KeyID: keyID}
	var created int64
	var acct sql.NullString
	var names string
	err := s.read.QueryRowContext(ctx, `SELECT profile, hmac_key, created_at, account_id, names FROM acme_eab_keys WHERE kid = ?`, keyID).
		Scan(&k.Profile, &k.HMACKey, &created, &acct, &names)
	if errors.Is(err, sql.ErrNoRows) {
		return k, errs.New(errs.NotFound, "sqlite: no EAB key %q", keyID)
	}
	if err != nil {
		return k, wrap(err, "get EAB key")
	}
	k.CreatedAt, k.AccountID = fromMicros(created), acct.String
	if k.Names, err = decodeList(names); err != nil {
		return k, errs.Wrap(errs.Internal, err, "sqlite: the names of EAB key %s", keyID)
	}
	return k, nil
}

// InsertACMEOrder implements storage.ACMEStore.
func (s *Store) InsertACMEOrder(ctx context.Context, o storage.ACMEOrder, authzs []storage.ACMEAuthz) error {
	ids, err := json.Marshal(o.Identifiers)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "sqlite: encode identifiers")
	}
	return s.writes.Do(ctx, "insert ACME order", func(ctx context.Context, tx *txn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO acme_orders
			(id, account_id, profile, status, identifiers, expires, error, cert_serial, replaces, created_at, names_key)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			o.ID, o.AccountID, o.Profile, o.Status, string(ids), micros(o.Expires), nullBytes(o.Error),
			nullString(o.CertSerial), nullString(o.Replaces), micros(o.CreatedAt), certquery.NamesKey(storage.NamesOf(o.Identifiers)))
		if err != nil {
			return wrap(err, "insert ACME order")
		}
		for _, a := range authzs {
			_, err := tx.ExecContext(ctx, `INSERT INTO acme_authzs
				(id, order_id, account_id, position, id_type, id_value, wildcard, status, expires)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				a.ID, o.ID, a.AccountID, a.Position, a.Identifier.Type, a.Identifier.Value, boolInt(a.Wildcard), a.Status, micros(a.Expires))
			if err != nil {
				return wrap(err, "insert ACME authorization")
			}
			for i, c := range a.Challenges {
				_, err := tx.ExecContext(ctx, `INSERT INTO acme_challenges
					(id, authz_id, position, type, token, status, validated, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
					c.ID, a.ID, i, c.Type, c.Token, c.Status, nullMicros(c.Validated), nullBytes(c.Error))
				if err != nil {
					return wrap(err, "insert ACME challenge")
				}
			}
		}
		return nil
	})
}

// GetACMEOrder implements storage.ACMEStore.
func (s *Store) GetACMEOrder(ctx context.Context, id string) (storage.ACMEOrder, error) {
	o := storage.ACMEOrder{ID: id}
	var ids string
	var expires, created int64
	var serial, replaces sql.NullString
	err := s.read.QueryRowContext(ctx, `SELECT account_id, profile, status, identifiers, expires, error, cert_serial, replaces, created_at
		FROM acme_orders WHERE id = ?`, id).
		Scan(&o.AccountID, &o.Profile, &o.Status, &ids, &expires, &o.Error, &serial, &replaces, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return o, errs.New(errs.NotFound, "sqlite: no ACME order %s", id)
	}
	if err != nil {
		return o, wrap(err, "get ACME order")
	}
	if err := json.Unmarshal([]byte(ids), &o.Identifiers); err != nil {
		return o, errs.Wrap(errs.Internal, err, "sqlite: decode identifiers")
	}
	o.Expires, o.CreatedAt, o.CertSerial, o.Replaces = fromMicros(expires), fromMicros(created), serial.String, replaces.String
	if len(o.Error) == 0 {
		o.Error = nil
	}
	return o, nil
}

// CountACMEOrders implements storage.ACMEStore (on acme_orders_account_idx).
func (s *Store) CountACMEOrders(ctx context.Context, accountID string, since time.Time) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM acme_orders WHERE account_id = ? AND created_at >= ?`,
		accountID, micros(since)).Scan(&n)
	if err != nil {
		return 0, wrap(err, "count ACME orders of account %q", accountID)
	}
	return n, nil
}

// CountIssuedACMEOrders implements storage.ACMEStore (on
// acme_orders_names_idx).
func (s *Store) CountIssuedACMEOrders(ctx context.Context, profile string, ids []storage.ACMEIdentifier, since time.Time) (int, time.Time, error) {
	var (
		n      int
		oldest sql.NullInt64
	)
	err := s.read.QueryRowContext(ctx, `SELECT count(*), min(created_at) FROM acme_orders
		WHERE profile = ? AND names_key = ? AND created_at >= ? AND status = 'valid'`,
		profile, certquery.NamesKey(storage.NamesOf(ids)), micros(since)).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, wrap(err, "count issued ACME orders of profile %q", profile)
	}
	if !oldest.Valid {
		return n, time.Time{}, nil
	}
	return n, fromMicros(oldest.Int64), nil
}

// CountFailedACMEValidations implements storage.ACMEStore (on
// acme_authzs_account_identifier_idx).
func (s *Store) CountFailedACMEValidations(ctx context.Context, accountID string, id storage.ACMEIdentifier, since time.Time) (int, time.Time, error) {
	var (
		n      int
		oldest sql.NullInt64
	)
	err := s.read.QueryRowContext(ctx, `SELECT count(*), min(c.validated) FROM acme_authzs a JOIN acme_challenges c ON c.authz_id = a.id
		WHERE a.account_id = ? AND a.id_type = ? AND a.id_value = ? AND c.status = 'invalid' AND c.validated >= ?`,
		accountID, id.Type, id.Value, micros(since)).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, wrap(err, "count failed ACME validations of account %q", accountID)
	}
	if !oldest.Valid {
		return n, time.Time{}, nil
	}
	return n, fromMicros(oldest.Int64), nil
}

// ListACMEOrders implements storage.ACMEStore.
func (s *Store) ListACMEOrders(ctx context.Context, accountID, after string, now time.Time, limit int) ([]string, error) {
	q, args := `SELECT id FROM acme_orders WHERE account_id = ? AND status <> 'invalid'
		AND NOT (status IN ('pending', 'ready') AND expires <= ?)`, []any{accountID, micros(now)}
	if after != "" {
		q += ` AND (created_at, id) < (SELECT created_at, id FROM acme_orders WHERE id = ? AND account_id = ?)`
		args = append(args, after, accountID)
	}
	rows, err := s.read.QueryContext(ctx, q+` ORDER BY created_at DESC, id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, wrap(err, "list ACME orders")
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, wrap(err, "list ACME orders")
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list ACME orders")
	}
	return out, nil
}

// casStatus runs a compare-and-set UPDATE; an unchanged row is false, or
// errs.NotFound if the row does not exist at all.
func (s *Store) casStatus(ctx context.Context, table, id, from, to, extra string, args ...any) (bool, error) {
	var ok bool
	err := s.writes.Do(ctx, "set "+table+" status", func(ctx context.Context, tx *txn) error {
		q := `UPDATE ` + table + ` SET status = ?` + extra + ` WHERE id = ? AND status = ?`
		res, err := tx.ExecContext(ctx, q, append(append([]any{to}, args...), id, from)...)
		if err != nil {
			return wrap(err, "set %s status", table)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap(err, "set %s status", table)
		}
		if ok = n == 1; ok {
			return nil
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM `+table+` WHERE id = ?`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return errs.New(errs.NotFound, "sqlite: no %s row %s", table, id)
		}
		if err != nil {
			return wrap(err, "set %s status", table)
		}
		return nil
	})
	return ok, err
}

// SetACMEOrderStatus implements storage.ACMEStore.
func (s *Store) SetACMEOrderStatus(ctx context.Context, id, from, to string, errDoc []byte, certSerial string) (bool, error) {
	return s.casStatus(ctx, "acme_orders", id, from, to, `, error = COALESCE(?, error), cert_serial = COALESCE(?, cert_serial)`,
		nullBytes(errDoc), nullString(certSerial))
}

// ClaimACMEOrder implements storage.ACMEStore.
func (s *Store) ClaimACMEOrder(ctx context.Context, id string, now time.Time) (bool, error) {
	return s.casStatus(ctx, "acme_orders", id, storage.ACMEReady, storage.ACMEProcessing, `, processing_at = ?`, micros(now))
}

// StaleACMEOrders implements storage.ACMEStore. A NULL processing_at is
// not less than anything, so orders claimed by a pending certificate stay
// out.
func (s *Store) StaleACMEOrders(ctx context.Context, before time.Time, limit int) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id FROM acme_orders
		WHERE status = ? AND processing_at < ?
		ORDER BY processing_at, id LIMIT ?`, storage.ACMEProcessing, micros(before), limit)
	if err != nil {
		return nil, wrap(err, "stale ACME orders")
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, wrap(err, "stale ACME orders")
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "stale ACME orders")
	}
	return ids, nil
}

// SetACMEAuthzStatus implements storage.ACMEStore.
func (s *Store) SetACMEAuthzStatus(ctx context.Context, id, from, to string) (bool, error) {
	return s.casStatus(ctx, "acme_authzs", id, from, to, "")
}

// SetACMEChallengeStatus implements storage.ACMEStore.
func (s *Store) SetACMEChallengeStatus(ctx context.Context, id, from, to string, validated time.Time, errDoc []byte) (bool, error) {
	return s.casStatus(ctx, "acme_challenges", id, from, to, `, validated = COALESCE(?, validated), error = COALESCE(?, error)`,
		nullMicros(validated), nullBytes(errDoc))
}

// StartACMEValidation implements storage.ACMEStore.
func (s *Store) StartACMEValidation(ctx context.Context, id string, at time.Time) (bool, error) {
	return s.casStatus(ctx, "acme_challenges", id, storage.ACMEPending, storage.ACMEProcessing, `, processing_at = ?`, micros(at))
}

// StaleACMEChallenges implements storage.ACMEStore.
func (s *Store) StaleACMEChallenges(ctx context.Context, before time.Time, limit int) ([]storage.ACMEChallengeRef, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT c.id, c.authz_id, a.order_id
		FROM acme_challenges c JOIN acme_authzs a ON a.id = c.authz_id
		WHERE c.status = ? AND (c.processing_at IS NULL OR c.processing_at < ?)
		ORDER BY c.processing_at LIMIT ?`, storage.ACMEProcessing, micros(before), limit)
	if err != nil {
		return nil, wrap(err, "stale ACME challenges")
	}
	defer rows.Close()
	var refs []storage.ACMEChallengeRef
	for rows.Next() {
		var r storage.ACMEChallengeRef
		if err := rows.Scan(&r.ChallengeID, &r.AuthzID, &r.OrderID); err != nil {
			return nil, wrap(err, "stale ACME challenges")
		}
		refs = append(refs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "stale ACME challenges")
	}
	return refs, nil
}

// RecordACMEValidation implements storage.ACMEStore: one write of the
// batcher, so the four steps commit together.
func (s *Store) RecordACMEValidation(ctx context.Context, challengeID, authzID, orderID string, valid bool, validated time.Time, problem []byte) (bool, error) {
	to := storage.ACMEInvalid
	if valid {
		to = storage.ACMEValid
	}
	var ready bool
	err := s.writes.Do(ctx, "record ACME validation", func(ctx context.Context, tx *txn) error {
		ready = false
		const what = "record ACME validation"
		res, err := tx.ExecContext(ctx, `UPDATE acme_challenges SET status = ?, validated = COALESCE(?, validated), error = COALESCE(?, error)
			WHERE id = ? AND status IN (?, ?)`, to, nullMicros(validated), nullBytes(problem), challengeID, storage.ACMEPending, storage.ACMEProcessing)
		if err != nil {
			return wrap(err, what)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap(err, what)
		}
		if n != 1 {
			var one int
			err = tx.QueryRowContext(ctx, `SELECT 1 FROM acme_challenges WHERE id = ?`, challengeID).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return errs.New(errs.NotFound, "sqlite: no acme_challenges row %s", challengeID)
			}
			if err != nil {
				return wrap(err, what)
			}
			return nil // already recorded: change nothing
		}
		if _, err := tx.ExecContext(ctx, `UPDATE acme_authzs SET status = ? WHERE id = ? AND status = ?`,
			to, authzID, storage.ACMEPending); err != nil {
			return wrap(err, what)
		}
		if !valid {
			if _, err := tx.ExecContext(ctx, `UPDATE acme_orders SET status = ? WHERE id = ? AND status = ?`,
				storage.ACMEInvalid, orderID, storage.ACMEPending); err != nil {
				return wrap(err, what)
			}
			return nil
		}
		// The order goes ready when none of its authorizations is other
		// than valid; the compare-and-set lets one caller move it.
		res, err = tx.ExecContext(ctx, `UPDATE acme_orders SET status = ? WHERE id = ? AND status = ?
			AND NOT EXISTS (SELECT 1 FROM acme_authzs WHERE order_id = ? AND status <> ?)`,
			storage.ACMEReady, orderID, storage.ACMEPending, orderID, storage.ACMEValid)
		if err != nil {
			return wrap(err, what)
		}
		if n, err = res.RowsAffected(); err != nil {
			return wrap(err, what)
		}
		ready = n == 1
		return nil
	})
	return ready, err
}

const acmeAuthzCols = `id, order_id, account_id, position, id_type, id_value, wildcard, status, expires`

func (s *Store) queryAuthzs(ctx context.Context, where string, arg string) ([]storage.ACMEAuthz, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+acmeAuthzCols+` FROM acme_authzs WHERE `+where+` ORDER BY position`, arg)
	if err != nil {
		return nil, wrap(err, "get ACME authorizations")
	}
	var out []storage.ACMEAuthz
	for rows.Next() {
		var a storage.ACMEAuthz
		var wildcard, expires int64
		if err := rows.Scan(&a.ID, &a.OrderID, &a.AccountID, &a.Position, &a.Identifier.Type, &a.Identifier.Value, &wildcard, &a.Status, &expires); err != nil {
			rows.Close()
			return nil, wrap(err, "get ACME authorizations")
		}
		a.Wildcard, a.Expires = wildcard != 0, fromMicros(expires)
		out = append(out, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "get ACME authorizations")
	}
	for i := range out {
		if out[i].Challenges, err = s.challenges(ctx, `authz_id = ? ORDER BY position`, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) challenges(ctx context.Context, where string, arg string) ([]storage.ACMEChallenge, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, authz_id, type, token, status, validated, error FROM acme_challenges WHERE `+where, arg)
	if err != nil {
		return nil, wrap(err, "get ACME challenges")
	}
	defer rows.Close()
	var out []storage.ACMEChallenge
	for rows.Next() {
		var c storage.ACMEChallenge
		var validated sql.NullInt64
		if err := rows.Scan(&c.ID, &c.AuthzID, &c.Type, &c.Token, &c.Status, &validated, &c.Error); err != nil {
			return nil, wrap(err, "get ACME challenges")
		}
		c.Validated = fromNullMicros(validated)
		if len(c.Error) == 0 {
			c.Error = nil
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "get ACME challenges")
	}
	return out, nil
}

// GetACMEAuthz implements storage.ACMEStore.
func (s *Store) GetACMEAuthz(ctx context.Context, id string) (storage.ACMEAuthz, error) {
	l, err := s.queryAuthzs(ctx, `id = ?`, id)
	if err != nil {
		return storage.ACMEAuthz{}, err
	}
	if len(l) == 0 {
		return storage.ACMEAuthz{}, errs.New(errs.NotFound, "sqlite: no ACME authorization %s", id)
	}
	return l[0], nil
}

// ACMEOrderAuthzs implements storage.ACMEStore.
func (s *Store) ACMEOrderAuthzs(ctx context.Context, orderID string) ([]storage.ACMEAuthz, error) {
	return s.queryAuthzs(ctx, `order_id = ?`, orderID)
}

// GetACMEChallenge implements storage.ACMEStore.
func (s *Store) GetACMEChallenge(ctx context.Context, id string) (storage.ACMEChallenge, error) {
	l, err := s.challenges(ctx, `id = ?`, id)
	if err != nil {
		return storage.ACMEChallenge{}, err
	}
	if len(l) == 0 {
		return storage.ACMEChallenge{}, errs.New(errs.NotFound, "sqlite: no ACME challenge %s", id)
	}
	return l[0], nil
}
