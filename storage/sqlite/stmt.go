package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"sync"
)

// maxCachedStatements bounds a pool's statement cache. The store's
// statements are constants or built from a handful of optional filters, so
// the cache fills up with well under this many; a text beyond the bound is
// prepared for one use, as database/sql would do.
const maxCachedStatements = 512

// pool is a database/sql pool that prepares each statement text once.
//
// modernc.org/sqlite compiles a statement on every call that is not made
// through a prepared statement, and compiling costs more than running the
// small statements of this store: an issuance spent a third of its writer's
// time in the SQL parser before the statements were kept. database/sql
// prepares a *sql.Stmt on each connection that runs it, once, and reuses it
// from then on.
//
// The write pool's one connection is held by the batch transaction while
// its ops run, so a statement cannot be prepared on the pool then (it
// would wait for its own connection). There, a text seen for the first time
// runs unprepared and is queued; the writer prepares the queue between
// batches (prepareQueued).
type pool struct {
	db       *sql.DB
	deferred bool // prepare only in prepareQueued: the write pool

	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	queued []string
}

func newPool(db *sql.DB, deferred bool) *pool {
	return &pool{db: db, deferred: deferred, stmts: make(map[string]*sql.Stmt)}
}

// stmt returns the prepared statement for query, or nil if there is none
// yet or it cannot be kept (the cache is full, or preparing it failed: the
// caller then runs query unprepared, which reports the failure the usual
// way).
func (p *pool) stmt(ctx context.Context, query string) *sql.Stmt {
	p.mu.Lock()
	if st, ok := p.stmts[query]; ok {
		p.mu.Unlock()
		return st
	}
	if len(p.stmts)+len(p.queued) >= maxCachedStatements {
		p.mu.Unlock()
		return nil
	}
	if p.deferred {
		if !slices.Contains(p.queued, query) {
			p.queued = append(p.queued, query)
		}
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	// Prepared without the lock: preparing waits for a free connection,
	// and a caller holding one (reading rows) may be asking for another
	// statement meanwhile.
	st, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if kept, ok := p.stmts[query]; ok { // prepared by another caller meanwhile
		st.Close()
		return kept
	}
	p.stmts[query] = st
	return st
}

// prepareQueued prepares the texts that ran unprepared in a batch. The
// writer calls it when no transaction holds the connection.
func (p *pool) prepareQueued(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, q := range p.queued {
		if st, err := p.db.PrepareContext(ctx, q); err == nil {
			p.stmts[q] = st
		}
	}
	p.queued = p.queued[:0]
}

// ExecContext is sql.DB.ExecContext through the cache.
func (p *pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.db.ExecContext(ctx, query, args...)
}

// QueryContext is sql.DB.QueryContext through the cache.
func (p *pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.db.QueryContext(ctx, query, args...)
}

// QueryRowContext is sql.DB.QueryRowContext through the cache.
func (p *pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.db.QueryRowContext(ctx, query, args...)
}

// PingContext is sql.DB.PingContext.
func (p *pool) PingContext(ctx context.Context) error { return p.db.PingContext(ctx) }

// Close closes the prepared statements and the pool.
func (p *pool) Close() error {
	p.mu.Lock()
	for q, st := range p.stmts {
		st.Close()
		delete(p.stmts, q)
	}
	p.mu.Unlock()
	return p.db.Close()
}

// txn is the transaction of a batch of writes (batch.go), running its
// statements through the write pool's cache. An op must not run a query
// again while it still reads the rows of an earlier run of the same text:
// both would share the connection's one prepared statement.
type txn struct {
	tx    *sql.Tx
	stmts *pool
}

// ExecContext is sql.Tx.ExecContext through the cache.
func (t *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.stmts.stmt(ctx, query); st != nil {
		return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

// QueryContext is sql.Tx.QueryContext through the cache.
func (t *txn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.stmts.stmt(ctx, query); st != nil {
		return t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

// QueryRowContext is sql.Tx.QueryRowContext through the cache.
func (t *txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.stmts.stmt(ctx, query); st != nil {
		return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}
