package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certgw/gateway/storage/internal/groupcommit"
)

// The inserts (CAs, certificates, tokens, audit events),
// ActivateCertificate and CompleteIssuance go through one
// groupcommit.Batcher (see that package for the design), so that the
// writes of concurrent issuances share commits, and WAL flushes, instead
// of each waiting for its own.
//
// The other writes (RevokeCertificate, ClaimRenewal, MarkRenewed,
// SetAutoRenew) keep their own transactions: they update rows that other
// replicas update too, and inside a batch a lock wait would hold back every
// write of the batch, and a deadlock between two replicas' batches would
// fail them all. The batched writes touch rows only this replica writes,
// except when two replicas activate one certificate; the reconcile step
// may do that, and then at worst one batch fails with errs.Unavailable.
//
// maxBatch stays within PostgreSQL's cache of 64 subtransaction IDs per
// backend (PGPROC_MAX_CACHED_SUBXIDS): each savepoint that writes takes one,
// and while a transaction holds more, every other session's snapshots
// overflow and their visibility checks slow down.
const maxBatch = 64

// batchWriters is how many batches are written at once, each on its own
// connection: PostgreSQL commits them side by side and flushes its WAL
// for commits that arrive together once, so a write need not wait for the
// batch ahead of it. The batched writes touch rows of their own (new
// certificates, audit events, their own pending certificate), so two
// batches do not wait for each other's locks. Two leave the pool's other
// connections (pgxpool keeps at least four) to reads.
const batchWriters = 2

// A write is one batched write: a single statement, so that a batch can
// be sent whole (see batchWriter), and what its result means.
type write struct {
	sql  string
	args []any
	// result reads the row the statement returns (every batched statement
	// returns one) and returns the write's error. That is the statement's
	// error, or an error that says why it changed nothing: result must
	// never fail a statement that wrote, as that write could not be
	// undone alone.
	result func(pgx.Row) error
}

// batchWriter writes each batch in a READ COMMITTED transaction (whatever
// default_transaction_isolation says: a batched write must behave as it did
// in a transaction of its own) on a connection of the pool.
//
// Every statement is a round trip, and on a busy server each wakes up both
// sides; most of a batch's time went there. So a batch is first sent as
// one pipeline, BEGIN, the statements and COMMIT in one round trip, without
// savepoints: if no statement fails, that is all. If one fails, PostgreSQL
// skips the rest and the transaction is rolled back; the batch is then
// written again one statement at a time, each under a savepoint, so that
// the failed write is undone alone. Writes that fail without an error
// (an activation that finds nothing pending) change nothing, so they need
// no savepoint and do not end the pipeline.
//
// A batch of unflushed writes alone (groupcommit.DoUnflushed) sets
// synchronous_commit off for its transaction: PostgreSQL commits it without
// waiting for its WAL to reach the disk, and any later commit that waits
// (synchronous_commit on, the default) flushes the WAL up to itself, this
// commit included.
type batchWriter struct{ pool *pgxpool.Pool }

var _ groupcommit.Writer[write] = batchWriter{}

func (w batchWriter) Write(ctx context.Context, ws []write, results []error, flush bool) error {
	conn, err := w.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire a connection: %w", err)
	}
	defer conn.Release() // the pool closes it if a transaction is left open
	err = pipeline(ctx, conn.Conn(), ws, results, flush)
	if err == nil || !statementFailed(results) {
		return err
	}
	return oneByOne(ctx, conn.Conn(), ws, results, flush)
}

func (batchWriter) Wrap(err error, format string, args ...any) error {
	return wrap(err, format, args...)
}

// pipeline sends the batch as BEGIN, the statements and COMMIT in one round
// trip. If it returns an error, nothing is written, and if a statement
// failed, its result has the PostgreSQL error.
func pipeline(ctx context.Context, conn *pgx.Conn, ws []write, results []error, flush bool) error {
	b := &pgx.Batch{}
	b.Queue(beginSQL)
	if !flush {
		b.Queue(unflushedSQL)
	}
	for i, w := range ws {
		// The callback does not return the result: that would stop the
		// batch, and a write that failed without an error must not.
		b.Queue(w.sql, w.args...).QueryRow(func(row pgx.Row) error {
			results[i] = w.result(row)
			return nil
		})
	}
	b.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
		if tag.String() != "COMMIT" {
			return errors.New("commit: the transaction was rolled back")
		}
		return nil
	})
	err := conn.SendBatch(ctx, b).Close()
	if err == nil {
		return nil
	}
	if conn.PgConn().TxStatus() != 'I' {
		// The statement that failed aborted the transaction; end it.
		if _, rerr := conn.Exec(ctx, "ROLLBACK"); rerr != nil {
			return fmt.Errorf("pipeline: %w; rollback: %w", err, rerr)
		}
	}
	return fmt.Errorf("pipeline: %w", err)
}

// statementFailed reports whether the pipeline failed because a statement
// of the batch did, with a PostgreSQL error: then the other writes may
// well succeed one by one.
func statementFailed(results []error) bool {
	var pgErr *pgconn.PgError
	for _, err := range results {
		if errors.As(err, &pgErr) {
			return true
		}
	}
	return false
}

// oneByOne writes the batch one statement at a time, each under a
// savepoint.
func oneByOne(ctx context.Context, conn *pgx.Conn, ws []write, results []error, flush bool) error {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) // a no-op after Commit
	if !flush {
		if _, err := tx.Exec(ctx, unflushedSQL); err != nil {
			return fmt.Errorf("%s: %w", unflushedSQL, err)
		}
	}
	exec := func(ctx context.Context, stmt string) error {
		_, err := tx.Exec(ctx, stmt)
		return err
	}
	for i, w := range ws {
		results[i], err = groupcommit.InSavepoint(ctx, exec, func() error {
			return w.result(tx.QueryRow(ctx, w.sql, w.args...))
		})
		if err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// beginSQL begins the transaction of a pipeline, like oneByOne's.
const beginSQL = "BEGIN ISOLATION LEVEL READ COMMITTED"

// unflushedSQL makes the commit of a transaction of unflushed writes return
// before its WAL is flushed. SET LOCAL ends with the transaction.
const unflushedSQL = "SET LOCAL synchronous_commit = off"

// ObserveCommits has o hear of every batch of writes committed from now
// on: its writes, whether it was flushed to disk, how long it took, and
// its error (nil o: none). o runs on the writer, so it must be quick.
func (s *Store) ObserveCommits(o func(writes int, flushed bool, took time.Duration, err error)) {
	s.writes.Observe(o)
}
