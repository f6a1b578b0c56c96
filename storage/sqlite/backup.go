package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/certgw/gateway/errs"
)

// BackupInfo describes a copy Backup wrote.
type BackupInfo struct {
	Path         string // absolute
	Bytes        int64
	Schema       int // the newest migration it holds
	Certificates int
}

// Backup writes a consistent copy of the database to path while the store
// stays in use: one read transaction (VACUUM INTO), so writes go on
// meanwhile and the copy holds what was committed when it began. The copy
// is a single self-contained file (no WAL beside it), created with mode
// 0600 as it holds the inventory, the audit trail and the sealed keys;
// path must not exist yet. Before Backup returns, the copy is opened
// read-only and must pass SQLite's integrity_check. On any failure the
// partial copy is removed.
func (s *Store) Backup(ctx context.Context, path string) (BackupInfo, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return BackupInfo{}, errs.Wrap(errs.Malformed, err, "sqlite: backup path")
	}
	// VACUUM INTO wants a file that does not exist or is empty; creating
	// it first sets its mode, and O_EXCL keeps an existing file safe.
	f, err := os.OpenFile(abs, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return BackupInfo{}, errs.New(errs.Conflict, "sqlite: backup: %s exists; a backup never overwrites a file", abs)
	}
	if err != nil {
		return BackupInfo{}, errs.Wrap(errs.Malformed, err, "sqlite: backup: create %s", abs)
	}
	f.Close()
	info, err := s.backup(ctx, abs)
	if err != nil {
		os.Remove(abs)
		return BackupInfo{}, err
	}
	return info, nil
}

func (s *Store) backup(ctx context.Context, abs string) (BackupInfo, error) {
	// The read pool's connections are query_only, which refuses VACUUM
	// INTO (it writes, if not to this database): one connection of its own.
	src, err := openPool(ctx, s.path, false)
	if err != nil {
		return BackupInfo{}, err
	}
	defer src.Close()
	conn, err := src.Conn(ctx)
	if err != nil {
		return BackupInfo{}, wrap(err, "backup into %s", abs)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA query_only = 0`); err != nil {
		return BackupInfo{}, wrap(err, "backup into %s", abs)
	}
	if _, err := conn.ExecContext(ctx, `VACUUM INTO ?`, abs); err != nil {
		return BackupInfo{}, wrap(err, "backup into %s", abs)
	}
	// Read-only and without the store's pragmas, so that the check
	// leaves the copy as VACUUM INTO wrote it (journal_mode(WAL) would
	// turn it into a WAL database with files beside it).
	u := url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro"}
	copyDB, err := sql.Open("sqlite", u.String())
	if err != nil {
		return BackupInfo{}, wrap(err, "open the backup %s", abs)
	}
	defer copyDB.Close()
	var check string
	if err := copyDB.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil {
		return BackupInfo{}, wrap(err, "check the backup %s", abs)
	}
	if check != "ok" {
		return BackupInfo{}, errs.New(errs.Internal, "sqlite: the backup %s fails integrity_check: %s", abs, check)
	}
	info := BackupInfo{Path: abs}
	if err := copyDB.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&info.Schema); err != nil {
		return BackupInfo{}, wrap(err, "read the backup %s", abs)
	}
	if err := copyDB.QueryRowContext(ctx, `SELECT COUNT(*) FROM certificates`).Scan(&info.Certificates); err != nil {
		return BackupInfo{}, wrap(err, "read the backup %s", abs)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return BackupInfo{}, errs.Wrap(errs.Internal, err, "sqlite: backup")
	}
	info.Bytes = st.Size()
	return info, nil
}
