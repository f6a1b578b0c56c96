// Package crl builds, signs, publishes and serves one full CRL per CA (RFC
// 5280 section 5).
//
// The parts:
//
//   - encode.go: a streaming DER encoder. Entries go straight from the store
//     into one buffer, so a CRL of a million entries takes little more
//     memory than its DER; its TBSCertList is byte for byte what
//     crypto/x509 would produce.
//   - build.go: Builder, which lints a crypto/x509 draft signed with a
//     throwaway key (ca.Presigner, ca.Linter) before the CA's key in the
//     token signs the real CRL, and checks the signature it got back.
//   - publish.go: Publisher, which keeps each CA's CRL current: rebuilt
//     shortly after a revocation (bursts coalesced), on a schedule well
//     before nextUpdate, and when another replica's revocation shows in
//     the store. CRL numbers and the latest CRL live in the store
//     (storage.RevocationStore), so they increase across restarts and
//     replicas, and every replica serves the same CRL.
//   - http.go: the /crl/CA.crl and /crl/CA.pem handler with caching headers.
//
// Every CRL carries the authority key identifier (5.2.1) and the CRL number
// (5.2.3); an entry carries a reasonCode (5.3.1) unless the reason is
// unspecified. Entries stay until their certificate has expired.
//
// TODO: partitioned CRLs (a shard per certificate, a critical
// issuingDistributionPoint per shard, RFC 5280 5.2.5) are not implemented;
// every CA publishes one full CRL.
package crl
