package storagetest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/certgw/gateway/storage"
)

// BenchClients is how many goroutines BenchIssueWrites issues from.
const BenchClients = 8

// BenchIssueWrites measures the writes of one issuance, made by
// BenchClients goroutines at once: InsertPendingCertificate, then
// CompleteIssuance with the signed DER, as ca.Issue makes them. One b.N is
// one issuance. It reports issuances/s and writes/s (two per issuance). s must be empty; the
// benchmark inserts the CA "root" itself.
func BenchIssueWrites(b *testing.B, s storage.Store) {
	ctx := b.Context()
	if err := s.InsertCA(ctx, rootCA("root", base), Event("init-ca", "")); err != nil {
		b.Fatalf("InsertCA(root) = %v", err)
	}
	der := testDER(9)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		fail atomic.Pointer[error]
	)
	cpu0 := processCPU()
	b.ResetTimer()
	for range BenchClients {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N) && fail.Load() == nil; i = next.Add(1) {
				if err := issue(ctx, s, pendingCert(fmt.Sprintf("%032x", i)), der); err != nil {
					fail.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	cpu := processCPU() - cpu0
	if err := fail.Load(); err != nil {
		b.Fatal(*err)
	}
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/secs, "issuances/s")
	b.ReportMetric(float64(2*b.N)/secs, "writes/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/issuance")
}

// processCPU is the CPU time, user and system, this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
