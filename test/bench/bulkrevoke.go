package main

// Bulk revocation (POST /api/v1/certificates/revoke, gateway cert revoke
// with filters): ca.Core.RevokeMatching against the reference of the same
// revocations made one at a time with ca.Core.Revoke, as a script calling
// the API for each serial would, on the same store and CA. Each round
// revokes a batch of its own (certificates issued beforehand, a batch per
// round and side, told apart by a SAN suffix the filter names).

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"log"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/storage"
)

// bulkResult is one store's outcome: certificates revoked per second.
type bulkResult struct {
	store     string
	batch     int
	one, bulk float64 // medians
}

func bulkRevokeBench(module, storeKind string, batch, rounds int) bulkResult {
	ctx := context.Background()
	g := newBenchGateway(module, benchGatewayConfig{TempPrefix: "gateway-bench-bulk", Store: storeKind, MaxSessions: 9, PrivatePKISources: true,
		RootLabel: "bulk-root-" + storeKind, IssuingLabel: "bulk-issuing-" + storeKind, Subject: "Bulk"})
	defer g.Close()
	core, _ := g.Core(benchProfile("api"), g.Store)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	// batches[r][0] is round r's reference batch, [1] its subject's,
	// issued by 8 callers.
	batches := make([][2][]string, rounds)
	for r := range rounds {
		for side := range 2 {
			serials := make([]string, batch)
			next := make(chan int)
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for i := range next {
						name := fmt.Sprintf("h%d.r%d-s%d.bulk.example", i, r, side)
						der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, key)
						issued, err := core.Issue(ctx, ca.IssueRequest{Profile: "bench", Method: "api", Requester: "bench", CSR: der})
						if err != nil {
							log.Fatalf("bulk revocation bench: issue: %v", err)
						}
						serials[i] = issued.Serial
					}
				})
			}
			for i := range batch {
				next <- i
			}
			close(next)
			wg.Wait()
			batches[r][side] = serials
		}
	}
	var one, bulk []float64
	for r := range rounds {
		start := time.Now()
		for _, s := range batches[r][0] {
			if err := core.Revoke(ctx, s, 4, "bench"); err != nil {
				log.Fatalf("bulk revocation bench: revoke %s: %v", s, err)
			}
		}
		one = append(one, float64(batch)/time.Since(start).Seconds())
		start = time.Now()
		out, err := core.RevokeMatching(ctx, ca.BulkRevokeRequest{Filter: storage.CertificateFilter{SAN: fmt.Sprintf(".r%d-s1.bulk.example", r)},
			Reason: 4, Limit: batch, Requester: "bench"})
		if err != nil || len(out.Revoked) != batch {
			log.Fatalf("bulk revocation bench: %d of %d revoked, %v", len(out.Revoked), batch, err)
		}
		bulk = append(bulk, float64(batch)/time.Since(start).Seconds())
	}
	med := func(v []float64) float64 { sort.Float64s(v); return v[len(v)/2] }
	return bulkResult{store: storeKind, batch: batch, one: med(one), bulk: med(bulk)}
}

// bulkSection is the BENCHMARKS.md section of the results.
func bulkSection(results []bulkResult, rounds int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Bulk revocation\n\n")
	fmt.Fprintf(&b, "Certificates revoked per second by `ca.Core.RevokeMatching` (the bulk revocation of\n")
	fmt.Fprintf(&b, "`POST /api/v1/certificates/revoke` and `gateway cert revoke` with filters: eight revocations\n")
	fmt.Fprintf(&b, "at once, each its own audited commit) against the same revocations one at a time\n")
	fmt.Fprintf(&b, "(`ca.Core.Revoke` in a loop, as a script calling the API per serial would), on the same store\n")
	fmt.Fprintf(&b, "and CA, a fresh batch of certificates per side and round, alternating, %d rounds, medians.\n\n", rounds)
	fmt.Fprintf(&b, "| store | batch | one at a time /s | bulk /s | bulk / one at a time |\n|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %d | %.0f | %.0f | **%.2f** |\n", r.store, r.batch, r.one, r.bulk, r.bulk/r.one)
	}
	return b.String()
}
