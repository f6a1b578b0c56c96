package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/certgw/gateway/storage/internal/groupcommit"
)

// Every write goes through one groupcommit.Batcher (see that package for
// the design): the writes queued together share one transaction, and so
// one fsync, on the one connection of the write pool, and the batches,
// like the writes within them, run one after the other. maxBatch bounds
// how long one batch takes, and so how long its callers, and a writer in
// another process, wait.
const maxBatch = 128

// op is a write: it runs its statements in tx, with the context it is
// given (the batch's, not its caller's). Its error is returned to its
// caller, and its statements are then undone. An op must not touch
// Store.write: the batch holds its one connection, so the op would wait
// for itself.
type op = func(ctx context.Context, tx *txn) error

// batchWriter writes batches on the write pool. Their transactions begin
// IMMEDIATE (see dsn), so a batch holds the write lock from its first
// statement and SQLITE_BUSY cannot strike halfway through.
//
// Every op runs under its own savepoint. Here that costs two statements
// run in this process, a few microseconds, next to an op's tens and the
// fsync's hundreds: not worth saving.
//
// A batch of unflushed writes alone (groupcommit.DoUnflushed) commits with
// synchronous=NORMAL: its frames go to the WAL without an fsync, and the
// fsync of the next batch with synchronous=FULL (the DSN's) covers them, as
// the WAL is one file written in order. Only the one writer goroutine
// calls Write, so normal needs no lock.
type batchWriter struct {
	p *pool
	// normal: the last batch set synchronous=NORMAL on the connection. A
	// connection database/sql opens afresh has FULL whatever this says,
	// so normal may be wrong only in the safe direction.
	normal bool
}

var _ groupcommit.Writer[op] = (*batchWriter)(nil)

func (w *batchWriter) Write(ctx context.Context, ops []op, results []error, flush bool) error {
	// Statements first seen in this batch ran unprepared; prepare them
	// once the connection is free again.
	defer w.p.prepareQueued(ctx)
	if err := w.synchronous(ctx, flush); err != nil {
		return err
	}
	sqlTx, err := w.p.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	// The statements run without the batch's deadline: with a context that
	// can end, the driver starts a goroutine for every statement to
	// interrupt it, and a statement here waits for nothing but the write
	// lock, which busy_timeout bounds. The transaction keeps ctx.
	ctx = context.WithoutCancel(ctx)
	defer sqlTx.Rollback() // a no-op after Commit
	tx := &txn{tx: sqlTx, stmts: w.p}
	exec := func(ctx context.Context, stmt string) error {
		_, err := tx.ExecContext(ctx, stmt)
		return err
	}
	for i, op := range ops {
		results[i], err = groupcommit.InSavepoint(ctx, exec, func() error { return op(ctx, tx) })
		if err != nil {
			return err
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// synchronous sets the write connection to fsync the WAL at every commit
// (flush) or not, unless the last batch left it so. It runs outside the
// transaction, on the pool's one connection.
func (w *batchWriter) synchronous(ctx context.Context, flush bool) error {
	if flush != w.normal {
		return nil
	}
	mode := "FULL"
	if !flush {
		mode = "NORMAL"
	}
	if _, err := w.p.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous = "+mode); err != nil {
		return fmt.Errorf("synchronous=%s: %w", mode, err)
	}
	w.normal = !flush
	return nil
}

func (*batchWriter) Wrap(err error, format string, args ...any) error {
	return wrap(err, format, args...)
}

// ObserveCommits has o hear of every batch of writes committed from now
// on: its writes, whether it was flushed to disk, how long it took, and
// its error (nil o: none). o runs on the writer, so it must be quick.
func (s *Store) ObserveCommits(o func(writes int, flushed bool, took time.Duration, err error)) {
	s.writes.Observe(o)
}
