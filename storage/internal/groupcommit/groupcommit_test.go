package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeOp is an op of fakeWriter: it fails with err, if set.
type fakeOp struct {
	name string
	err  error
}

// fakeWriter records the batches it is given. It can hold a Write (to make
// requests queue up behind it) and fail one.
type fakeWriter struct {
	mu      sync.Mutex
	batches [][]string
	flushes []bool // each batch's flush

	// If not nil, Write sends the names of its ops on writing, then waits
	// until proceed is closed. Set them before the first Do and leave
	// them: the writer reads them.
	writing chan []string
	proceed chan struct{}
	// fail, if not nil, is the error of a whole batch.
	fail func(names []string) error
}

// newHeld returns a fakeWriter that holds every Write until proceed is
// closed.
func newHeld() *fakeWriter {
	// Buffered, so that the Writes after proceed is closed need no reader.
	return &fakeWriter{writing: make(chan []string, 100), proceed: make(chan struct{})}
}

func (w *fakeWriter) Write(ctx context.Context, ops []fakeOp, results []error, flush bool) error {
	var names []string
	for _, op := range ops {
		names = append(names, op.name)
	}
	if w.writing != nil {
		w.writing <- names
		<-w.proceed
	}
	if w.fail != nil {
		if err := w.fail(names); err != nil {
			return err
		}
	}
	for i, op := range ops {
		results[i] = op.err
	}
	w.mu.Lock()
	w.batches = append(w.batches, names)
	w.flushes = append(w.flushes, flush)
	w.mu.Unlock()
	return nil
}

func (w *fakeWriter) Wrap(err error, format string, args ...any) error {
	return fmt.Errorf("fake: "+format+": %w", append(args, err)...)
}

// written returns the batches written so far.
func (w *fakeWriter) written() [][]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.batches)
}

// queueBehind has an op "first" taken into a batch whose Write w holds,
// calls each of calls in a goroutine of its own, waits until they are all
// queued, lets the writer go and returns the errors of the calls. w must
// be newHeld and b not used yet.
func queueBehind(t *testing.T, w *fakeWriter, b *Batcher[fakeOp], calls ...func() error) []error {
	t.Helper()
	first := make(chan error)
	go func() { first <- b.Do(t.Context(), "first", fakeOp{name: "first"}) }()
	<-w.writing
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, call := range calls {
		wg.Go(func() { errs[i] = call() })
	}
	for len(b.queue) < len(calls) {
		time.Sleep(time.Millisecond)
	}
	close(w.proceed)
	if err := <-first; err != nil {
		t.Fatalf("first op: %v", err)
	}
	wg.Wait()
	return errs
}

func TestQueuedOpsShareABatch(t *testing.T) {
	w := newHeld()
	b := New(w, 3, 1)
	defer b.Close()
	var calls []func() error
	for i := range 5 {
		calls = append(calls, func() error { return b.Do(t.Context(), "op", fakeOp{name: fmt.Sprint("op", i)}) })
	}
	for i, err := range queueBehind(t, w, b, calls...) {
		if err != nil {
			t.Errorf("op%d: %v", i, err)
		}
	}
	// The first op alone (it was taken before the others queued), then
	// the others in batches of at most 3.
	got := w.written()
	var sizes []int
	var ops []string
	for _, batch := range got {
		sizes = append(sizes, len(batch))
		ops = append(ops, batch...)
	}
	slices.Sort(ops)
	if want := []int{1, 3, 2}; !reflect.DeepEqual(sizes, want) {
		t.Errorf("batches of %v ops, want %v: %v", sizes, want, got)
	}
	if want := []string{"first", "op0", "op1", "op2", "op3", "op4"}; !reflect.DeepEqual(ops, want) {
		t.Errorf("ops written %v, want %v", ops, want)
	}
}

// With two writers, a batch does not wait for the one being written: while
// the first Write is held, the second writer takes the next op.
func TestWritersWriteSideBySide(t *testing.T) {
	w := newHeld()
	b := New(w, 10, 2)
	defer b.Close()
	done := make(chan error, 2)
	go func() { done <- b.Do(t.Context(), "first", fakeOp{name: "first"}) }()
	if got := <-w.writing; !reflect.DeepEqual(got, []string{"first"}) {
		t.Fatalf("first batch %v", got)
	}
	go func() { done <- b.Do(t.Context(), "second", fakeOp{name: "second"}) }()
	select {
	case got := <-w.writing:
		if !reflect.DeepEqual(got, []string{"second"}) {
			t.Fatalf("second batch %v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second op waited for the first batch")
	}
	close(w.proceed)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestEachOpGetsItsOwnResult(t *testing.T) {
	w := newHeld()
	b := New(w, 10, 1)
	defer b.Close()
	errDuplicate := errors.New("duplicate")
	ops := []fakeOp{{name: "a"}, {name: "bad", err: errDuplicate}, {name: "b"}}
	var calls []func() error
	for _, op := range ops {
		calls = append(calls, func() error { return b.Do(t.Context(), op.name, op) })
	}
	for i, err := range queueBehind(t, w, b, calls...) {
		if err != ops[i].err {
			t.Errorf("Do(%s) = %v, want %v", ops[i].name, err, ops[i].err)
		}
	}
	if got := w.written(); len(got) != 2 || len(got[1]) != 3 {
		t.Errorf("batches %v, want first, then the three ops together", got)
	}
}

func TestFailedBatchFailsEveryOp(t *testing.T) {
	errDisk := errors.New("disk full")
	w := newHeld()
	w.fail = func(names []string) error {
		if len(names) > 1 { // the batch behind the first op
			return errDisk
		}
		return nil
	}
	b := New(w, 10, 1)
	defer b.Close()
	var calls []func() error
	for i := range 3 {
		calls = append(calls, func() error { return b.Do(t.Context(), fmt.Sprint("op", i), fakeOp{name: fmt.Sprint("op", i)}) })
	}
	for i, err := range queueBehind(t, w, b, calls...) {
		if !errors.Is(err, errDisk) || !strings.Contains(err.Error(), fmt.Sprintf("op%d: in a batch of 3 writes", i)) {
			t.Errorf("op%d: %v, want the batch's error", i, err)
		}
	}
	if err := b.Do(t.Context(), "later", fakeOp{name: "later"}); err != nil {
		t.Errorf("an op after the failed batch: %v", err)
	}
}

func TestContextEndsWhileQueued(t *testing.T) {
	w := newHeld()
	b := New(w, 10, 1)
	defer b.Close()

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Do(ctx, "canceled", fakeOp{name: "canceled"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Do() with a canceled context = %v", err)
	}

	// An op whose context ends while it waits behind a batch is never
	// written; the ops queued with it are.
	first := make(chan error, 1)
	go func() { first <- b.Do(t.Context(), "first", fakeOp{name: "first"}) }()
	<-w.writing
	ctx, cancel = context.WithCancel(t.Context())
	gaveUp, other := make(chan error, 1), make(chan error, 1)
	go func() { gaveUp <- b.Do(ctx, "gave-up", fakeOp{name: "gave-up"}) }()
	go func() { other <- b.Do(t.Context(), "other", fakeOp{name: "other"}) }()
	for len(b.queue) < 2 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Errorf("Do() whose context ended while queued = %v", err)
	}
	close(w.proceed)
	if err := <-first; err != nil {
		t.Error(err)
	}
	if err := <-other; err != nil {
		t.Error(err)
	}
	if got, want := w.written(), [][]string{{"first"}, {"other"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("written %v, want %v", got, want)
	}
}

// TestContextEndsInBatch: once taken, an op is written and its caller
// learns the outcome, whatever its context does.
func TestContextEndsInBatch(t *testing.T) {
	w := newHeld()
	b := New(w, 10, 1)
	defer b.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Do(ctx, "op", fakeOp{name: "op"}) }()
	<-w.writing
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Do() returned %v before its batch was written", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(w.proceed)
	if err := <-done; err != nil {
		t.Errorf("Do() = %v, want nil: the op was written", err)
	}
}

func TestCloseDrainsTheQueue(t *testing.T) {
	w := newHeld()
	b := New(w, 2, 1)
	results := make(chan error, 5)
	go func() { results <- b.Do(t.Context(), "first", fakeOp{name: "first"}) }()
	<-w.writing
	for i := range 4 {
		go func() { results <- b.Do(t.Context(), "op", fakeOp{name: fmt.Sprint("op", i)}) }()
	}
	for len(b.queue) < 4 {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() {
		b.Close()
		close(closed)
	}()
	close(w.proceed)
	<-closed
	for range 5 {
		if err := <-results; err != nil {
			t.Errorf("an op queued before Close: %v", err)
		}
	}
	if got := w.written(); len(got) != 3 {
		t.Errorf("written %v, want first, then two batches of two", got)
	}
	if err := b.Do(t.Context(), "late", fakeOp{name: "late"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Do() after Close = %v, want ErrClosed", err)
	}
	b.Close() // a second Close does nothing
}

func TestInSavepoint(t *testing.T) {
	errOp := errors.New("duplicate")
	errDB := errors.New("connection lost")
	tests := []struct {
		name      string
		opErr     error
		failAt    string // the statement that fails, if any
		want      []string
		wantOpErr error
		wantErr   bool
	}{
		{"op succeeds", nil, "", []string{savepoint, "op", release}, nil, false},
		{"op fails", errOp, "", []string{savepoint, "op", rollbackTo, release}, errOp, false},
		{"savepoint fails", nil, savepoint, []string{savepoint}, nil, true},
		{"rollback fails", errOp, rollbackTo, []string{savepoint, "op", rollbackTo}, errOp, true},
		{"release fails", nil, release, []string{savepoint, "op", release}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log []string
			exec := func(ctx context.Context, stmt string) error {
				log = append(log, stmt)
				if stmt == tt.failAt {
					return errDB
				}
				return nil
			}
			op := func() error {
				log = append(log, "op")
				return tt.opErr
			}
			opErr, err := InSavepoint(t.Context(), exec, op)
			if !reflect.DeepEqual(log, tt.want) {
				t.Errorf("ran %v, want %v", log, tt.want)
			}
			if opErr != tt.wantOpErr || (err != nil) != tt.wantErr || err != nil && !errors.Is(err, errDB) {
				t.Errorf("InSavepoint() = %v, %v; want %v and an error: %v", opErr, err, tt.wantOpErr, tt.wantErr)
			}
		})
	}
}

// A batch of DoUnflushed writes alone is written without a flush; one Do
// in a batch makes the whole batch flushed.
func TestUnflushedBatches(t *testing.T) {
	w := newHeld()
	b := New(w, 2, 1)
	defer b.Close()
	first := make(chan error)
	go func() { first <- b.Do(t.Context(), "first", fakeOp{name: "first"}) }()
	<-w.writing
	// Queued one after the other, so that the batches are [u1 u2] [u3 d4] [u5].
	var wg sync.WaitGroup
	for i, flush := range []bool{false, false, false, true, false} {
		name := fmt.Sprint(map[bool]string{false: "u", true: "d"}[flush], i+1)
		wg.Go(func() {
			do := b.DoUnflushed
			if flush {
				do = b.Do
			}
			if err := do(t.Context(), name, fakeOp{name: name}); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
		for len(b.queue) < i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	close(w.proceed)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	if want := [][]string{{"first"}, {"u1", "u2"}, {"u3", "d4"}, {"u5"}}; !reflect.DeepEqual(w.batches, want) {
		t.Fatalf("batches %v, want %v", w.batches, want)
	}
	if want := []bool{true, false, true, false}; !reflect.DeepEqual(w.flushes, want) {
		t.Errorf("flushes %v, want %v", w.flushes, want)
	}
}

// An observer hears of every batch: its writes, whether it was flushed,
// and its error; a failed batch is heard of too.
func TestObserver(t *testing.T) {
	w := &fakeWriter{fail: func(names []string) error {
		if names[0] == "bad" {
			return errors.New("disk full")
		}
		return nil
	}}
	b := New(w, 10, 1)
	defer b.Close()
	type seen struct {
		writes  int
		flushed bool
		failed  bool
	}
	var (
		mu  sync.Mutex
		got []seen
	)
	b.Observe(func(writes int, flushed bool, took time.Duration, err error) {
		mu.Lock()
		got = append(got, seen{writes, flushed, err != nil})
		mu.Unlock()
		if took < 0 {
			t.Errorf("a batch took %v", took)
		}
	})
	if err := b.Do(t.Context(), "a", fakeOp{name: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := b.DoUnflushed(t.Context(), "b", fakeOp{name: "b"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Do(t.Context(), "bad", fakeOp{name: "bad"}); err == nil {
		t.Fatal("the failing batch succeeded")
	}
	b.Observe(nil)
	if err := b.Do(t.Context(), "c", fakeOp{name: "c"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []seen{{1, true, false}, {1, false, false}, {1, true, true}}; !reflect.DeepEqual(got, want) {
		t.Errorf("observed %+v, want %+v", got, want)
	}
}
