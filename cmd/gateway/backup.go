package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/sqlite"
)

// backupStore is a store that can copy itself while in use (the SQLite
// one; PostgreSQL has its own tools).
type backupStore interface {
	Backup(ctx context.Context, path string) (sqlite.BackupInfo, error)
}

// cmdBackup writes a consistent copy of the embedded store while the
// gateway keeps serving, and records it in the audit trail: the copy holds
// the inventory, the audit trail and the keys the gateway holds (sealed
// with a key in the token, so a copy is of no use without the token).
func cmdBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	out := fs.String("o", "", "file to write the copy to; it must not exist (required)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *out == "" || *out == "-" {
		fmt.Fprintln(stderr, "usage: gateway backup -o FILE [-config FILE]")
		return errUsage
	}
	st, err := openStore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	b, ok := st.(backupStore)
	if !ok { // PostgreSQL
		return fmt.Errorf("a PostgreSQL store is backed up with PostgreSQL's own tools (pg_dump, or a base backup with WAL archiving); gateway backup copies the embedded store")
	}
	info, err := b.Backup(ctx, *out)
	if err != nil {
		return err
	}
	if _, err := st.AppendAudit(ctx, storage.AuditEvent{At: time.Now(), Actor: cliActor("gateway backup"), Action: "backup",
		Detail: fmt.Sprintf("path=%s bytes=%d schema=%d certificates=%d", info.Path, info.Bytes, info.Schema, info.Certificates)}); err != nil {
		return fmt.Errorf("backup written to %s, but not recorded in the audit trail: %w", info.Path, err)
	}
	fmt.Fprintf(stdout, "backup written to %s: %d bytes, schema version %d, %d certificates; integrity_check ok\n",
		info.Path, info.Bytes, info.Schema, info.Certificates)
	return nil
}
