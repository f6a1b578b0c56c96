// Package groupcommit lets concurrent writes share one transaction, and so
// one wait for the disk. Both stores send their writes through it (see
// the batch.go of each).
//
// # Why
//
// A write is durable when its commit returns: SQLite (synchronous=FULL)
// fsyncs its WAL and PostgreSQL (synchronous_commit on) flushes its WAL
// before they answer. That flush, with the begin and the commit around it,
// costs about the same for one row as for a hundred, and it is most of what
// a small write costs. An issuance makes two writes in a row (the pending
// certificate before it signs; the audit event with the signed DER and the
// activation after, see storage.Store.CompleteIssuance), each once its own
// transaction, so concurrent issuances spent their time waiting for each
// other's commits. Group commit makes them share commits instead, without
// weakening anything: a caller still returns only after the commit that
// holds its write is durable.
//
// # How
//
// A Batcher has one or more writer goroutines. Do queues a write (an op)
// and waits. A free writer takes the first queued op and every op queued
// behind it, up to a maximum, and waits for nothing more: a lone caller
// pays no added latency, and what queues up while batches are being
// written becomes the next batch, so batches grow with the load by
// themselves. The store's Writer writes each batch in one transaction and
// sets the outcome of each op; the writer then answers every caller. With
// one writer (SQLite has one write lock anyway) batches are written one
// after the other; with several (PostgreSQL), a batch does not wait for the
// commit of the one before it, and the database shares the flushes of
// commits that arrive together.
//
// The Writer keeps the ops apart: an op that fails (a duplicate serial, a
// missing row) is undone alone, with a savepoint (see InSavepoint), its
// caller gets its error, and the other ops of the batch are committed. If
// the transaction fails as a whole (the begin, a savepoint, the commit),
// every caller of the batch gets that error: none of their writes is
// durable.
//
// Ops of one batch run in the order they were queued, and each sees the
// writes of those before it; batches written at once commit in no set
// order, so concurrent callers' writes must not depend on each other. As
// each caller waits for its write, the writes of one caller keep their
// order.
//
// # Unflushed writes
//
// DoUnflushed is Do for a write whose caller needs it committed (seen by
// every reader, kept if the process dies) but not yet on disk: a batch of
// such writes alone commits without waiting for the flush (the Writer's
// flush is false). It is still made durable by the next flushed commit,
// since both databases write one log in order and a flush covers
// everything logged before it; only a crash of the machine before then
// loses it. The pending record of an issuance is such a write: nothing
// signed leaves the gateway until the completion after it is flushed (see
// storage.Store.InsertPendingCertificate). A batch with at least one Do is
// flushed as a whole.
//
// # Contexts
//
// A caller whose context ends while its op is still queued returns the
// context's error at once, and its op is never run. Once the writer has
// taken an op, the op is written and the caller waits for the outcome of
// the batch whatever its context says: returning early would leave it not
// knowing whether its write was committed. So batches run under a context
// of their own, not a caller's, bounded by batchTimeout (the databases' own
// timeouts usually end a stuck batch much sooner).
package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// batchTimeout bounds the writing of one batch. It is a backstop for a
// database that stopped answering, since the callers of a batch cannot give
// up on it.
const batchTimeout = 30 * time.Second

// ErrClosed is the cause of the error Do returns after Close.
var ErrClosed = errors.New("store closed")

// Writer is a store's side of a Batcher: it writes batches of its own kind
// of op (a function, a statement) to its database.
type Writer[Op any] interface {
	// Write runs ops in one transaction, in order, and commits it. It sets
	// results[i] to the error of ops[i], whose own writes it then undoes;
	// the ops without an error are committed. If the transaction fails
	// as a whole, Write returns that error and nothing is written. With
	// flush false, the commit need not wait for the disk (see
	// DoUnflushed).
	Write(ctx context.Context, ops []Op, results []error, flush bool) error
	// Wrap gives err, which comes from Write or is a context's error or
	// ErrClosed, the errs.Kind it calls for and a message.
	Wrap(err error, format string, args ...any) error
}

// Batcher queues the ops given to Do and has its Writer write them in
// shared transactions. It is safe for concurrent use.
type Batcher[Op any] struct {
	writer   Writer[Op]
	maxBatch int
	queue    chan *request[Op]
	stopped  chan struct{} // closed once the queue is drained and written

	mu     sync.RWMutex // held to send on queue, exclusively to close it
	closed bool

	observer atomic.Pointer[Observer]
}

// Observer hears of every batch written: how many writes it held, whether
// it was flushed to disk, how long writing and committing it took, and
// whether it failed. It runs on the writer goroutine, so it must be quick.
type Observer func(writes int, flushed bool, took time.Duration, err error)

// Observe has o hear of every batch written from now on (nil: none).
func (b *Batcher[Op]) Observe(o Observer) {
	if o == nil {
		b.observer.Store(nil)
		return
	}
	b.observer.Store(&o)
}

// The life of a request: queued, then either taken by the writer or
// abandoned by its caller, whichever comes first.
const (
	queued int32 = iota
	taken
	abandoned
)

type request[Op any] struct {
	ctx   context.Context // the caller's: only looked at, never passed on
	what  string
	op    Op
	flush bool // Do, not DoUnflushed
	state atomic.Int32
	done  chan error // buffered, so the writer never waits for a caller
}

// New starts the writers of a Batcher that puts at most maxBatch ops in one
// transaction. writers (at least 1) is how many batches may be written at
// once: 1 for a database with a single writer (SQLite); more where
// concurrent transactions commit side by side and the database shares
// their flushes itself (PostgreSQL), so that a write does not wait for
// the batch before it to commit. Close stops them.
func New[Op any](w Writer[Op], maxBatch, writers int) *Batcher[Op] {
	maxBatch = max(maxBatch, 1)
	b := &Batcher[Op]{
		writer:   w,
		maxBatch: maxBatch,
		// Room for a few batches, so that callers rarely block on the
		// queue itself; beyond that they wait (or give up on ctx).
		queue:   make(chan *request[Op], 4*maxBatch),
		stopped: make(chan struct{}),
	}
	var wg sync.WaitGroup
	for range max(writers, 1) {
		wg.Go(b.write)
	}
	go func() {
		wg.Wait()
		close(b.stopped)
	}()
	return b
}

// Do has op written in the next batch and returns once that batch is
// committed (op's error, nil if it succeeded) or has failed (the batch's
// error), or once ctx ends if op was not taken into a batch by then. what
// describes the write in the messages of the errors Do makes itself
// ("insert certificate 0a").
func (b *Batcher[Op]) Do(ctx context.Context, what string, op Op) error {
	return b.do(ctx, what, op, true)
}

// DoUnflushed is Do for a write that may return once committed, before
// it is on disk; see the package comment.
func (b *Batcher[Op]) DoUnflushed(ctx context.Context, what string, op Op) error {
	return b.do(ctx, what, op, false)
}

func (b *Batcher[Op]) do(ctx context.Context, what string, op Op, flush bool) error {
	if err := ctx.Err(); err != nil {
		return b.writer.Wrap(err, "%s: not started", what)
	}
	r := &request[Op]{ctx: ctx, what: what, op: op, flush: flush, done: make(chan error, 1)}
	if err := b.enqueue(r); err != nil {
		return b.writer.Wrap(err, "%s: not started", what)
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		if r.state.CompareAndSwap(queued, abandoned) {
			return b.writer.Wrap(ctx.Err(), "%s: not started", what)
		}
		return <-r.done // taken: wait for the outcome, see the package comment
	}
}

// enqueue hands r to the writer.
func (b *Batcher[Op]) enqueue(r *request[Op]) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	select {
	case b.queue <- r:
		return nil
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
}

// Close stops taking ops, waits for those already queued to be written,
// and stops the writer. Do returns an error with ErrClosed afterwards.
func (b *Batcher[Op]) Close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.queue)
	}
	b.mu.Unlock()
	<-b.stopped
}

// write is a writer: it writes batches of what is queued until the queue
// is closed and empty.
func (b *Batcher[Op]) write() {
	for first := range b.queue {
		if batch := b.collect(first); len(batch) > 0 {
			b.run(batch)
		}
	}
}

// collect returns first and the requests queued behind it, up to maxBatch,
// leaving out those whose callers have given up. It does not wait for
// more.
func (b *Batcher[Op]) collect(first *request[Op]) []*request[Op] {
	batch := b.take(make([]*request[Op], 0, min(len(b.queue)+1, b.maxBatch)), first)
	for len(batch) < b.maxBatch {
		select {
		case r, ok := <-b.queue:
			if !ok {
				return batch
			}
			batch = b.take(batch, r)
		default:
			return batch // nothing else is queued
		}
	}
	return batch
}

// take adds r to batch unless its caller has given up on it.
func (b *Batcher[Op]) take(batch []*request[Op], r *request[Op]) []*request[Op] {
	if r.ctx.Err() != nil || !r.state.CompareAndSwap(queued, taken) {
		return batch // its caller returns the context's error
	}
	return append(batch, r)
}

// run has one batch written and answers its callers.
func (b *Batcher[Op]) run(batch []*request[Op]) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	ops := make([]Op, len(batch))
	flush := false
	for i, r := range batch {
		ops[i] = r.op
		flush = flush || r.flush
	}
	results := make([]error, len(batch))
	start := time.Now()
	err := b.writer.Write(ctx, ops, results, flush)
	if o := b.observer.Load(); o != nil {
		(*o)(len(batch), flush, time.Since(start), err)
	}
	for i, r := range batch {
		if err != nil {
			results[i] = b.writer.Wrap(err, "%s: in a batch of %d writes", r.what, len(batch))
		}
		r.done <- results[i]
	}
}

// The savepoint InSavepoint sets. Savepoints do not nest here (each is
// released before the next is set), so one name will do.
const (
	savepoint  = "SAVEPOINT write"
	release    = "RELEASE SAVEPOINT write"
	rollbackTo = "ROLLBACK TO SAVEPOINT write"
)

// InSavepoint runs op in a transaction under a savepoint, for a Writer:
// exec runs a statement without arguments in that transaction. If op fails,
// InSavepoint rolls the transaction back to the savepoint, undoing op's own
// writes and nothing else, and returns op's error as opErr. It returns err
// if a savepoint statement failed, and then the whole transaction must be
// rolled back.
func InSavepoint(ctx context.Context, exec func(ctx context.Context, stmt string) error, op func() error) (opErr, err error) {
	if err := exec(ctx, savepoint); err != nil {
		return nil, fmt.Errorf("set a savepoint: %w", err)
	}
	if opErr = op(); opErr != nil {
		// ROLLBACK TO keeps the savepoint, the RELEASE below drops it.
		if err := exec(ctx, rollbackTo); err != nil {
			return opErr, fmt.Errorf("roll back to a savepoint: %w", err)
		}
	}
	if err := exec(ctx, release); err != nil {
		return opErr, fmt.Errorf("release a savepoint: %w", err)
	}
	return opErr, nil
}
