// Package crl builds, signs, publishes and serves one full CRL per CA (RFC
// 5280 section 5), and for a CA that asks for it (cas[].crl.shards) a
// partitioned CRL.
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
//   - http.go: the /crl/CA.crl and /crl/CA.pem handler (and
//     /crl/CA/SHARD.crl, .pem) with caching headers.
//
// Every CRL carries the authority key identifier (5.2.1) and the CRL number
// (5.2.3); an entry carries a reasonCode (5.3.1) unless the reason is
// unspecified. Entries stay until their certificate has expired.
//
// Partitioned CRLs (RFC 5280 5.2.5): a CA with ca.Authority.CRLShards = N
// (2 or more) assigns each certificate at issuance the shard
// ca.CRLShard(serial, N), the serial modulo N, and names that shard's URL
// (/crl/CA/SHARD.crl) in its CRL distribution point. Each rebuild then
// also builds N shard CRLs, each listing only its shard's revoked
// certificates and carrying a critical issuingDistributionPoint whose
// fullName is exactly the shard's URL, with onlyContainsUserCerts. The
// full CRL is still published, for validators that do not follow the
// distribution point, for `gateway crl dump` and for the mirrors: a
// mirror holds the full CRL, since a copy of a shard names the gateway's
// URL and not the mirror's. N cannot change while certificates issued
// under it are valid (the shard is a pure function of serial and N; a
// new N would move them out of the shard their CDP names), so Start
// refuses a count other than the published one.
package crl
