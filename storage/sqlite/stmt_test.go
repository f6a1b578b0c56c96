package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// The write pool prepares a statement between batches, after its first
// run, and uses the prepared one from then on; the read pool prepares it
// on first use. A statement that does not compile fails as it would
// unprepared and is not kept.
func TestStatementCache(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "gateway.db"))
	ctx := t.Context()
	const insert = `INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`
	cached := func(p *pool, q string) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		_, ok := p.stmts[q]
		return ok
	}
	write := func(version int) error {
		return s.writes.Do(ctx, "test insert", func(ctx context.Context, tx *txn) error {
			_, err := tx.ExecContext(ctx, insert, version)
			return err
		})
	}
	if err := write(1001); err != nil {
		t.Fatal(err)
	}
	if !cached(s.write, insert) {
		t.Fatal("statement not prepared after its first batch")
	}
	if err := write(1002); err != nil {
		t.Fatal(err)
	}
	// A failing run of a prepared statement leaves it usable.
	if err := write(1002); err == nil || !strings.Contains(err.Error(), "UNIQUE") {
		t.Fatalf("duplicate version: %v, want a UNIQUE constraint error", err)
	}
	if err := write(1003); err != nil {
		t.Fatal(err)
	}

	const count = `SELECT count(*) FROM schema_migrations WHERE version > ?`
	for range 2 {
		var n int
		if err := s.read.QueryRowContext(ctx, count, 1000).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Fatalf("count = %d, want 3", n)
		}
	}
	if !cached(s.read, count) {
		t.Fatal("read statement not prepared")
	}

	const bad = `SELEKT 1`
	if err := s.read.QueryRowContext(ctx, bad).Scan(new(int)); err == nil || !strings.Contains(err.Error(), "syntax error") {
		t.Fatalf("bad statement: %v, want a syntax error", err)
	}
	err := s.writes.Do(ctx, "bad", func(ctx context.Context, tx *txn) error {
		_, err := tx.ExecContext(ctx, bad)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "syntax error") {
		t.Fatalf("bad write: %v, want a syntax error", err)
	}
	if err := write(1004); err != nil {
		t.Fatalf("write after a statement that did not compile: %v", err)
	}
	if cached(s.read, bad) || cached(s.write, bad) {
		t.Fatal("a statement that does not compile was kept")
	}
}
