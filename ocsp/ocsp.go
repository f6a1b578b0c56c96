// Package ocsp is the gateway's OCSP responder (RFC 6960, with the
// lightweight profile of RFC 5019 for caching).
//
// One Responder answers for every CA at /ocsp/CA, GET and POST. A request
// is parsed strictly (request.go; FuzzParseRequest); a CertID whose issuer
// hashes are not the CA's is answered unauthorized, anything that does not
// parse malformedRequest, and the status comes from a Source (StoreSource:
// the certificate inventory), so a serial the CA never issued is unknown.
//
// Responses are signed by a delegated responder certificate whose key is
// generated in the token and rotated before it expires (rotate.go), or by
// the CA key itself for the CAs configured so. They are encoded here
// (response.go) rather than by golang.org/x/crypto/ocsp, which takes
// producedAt from the wall clock and cannot put the nonce where RFC 6960
// 4.4.1 wants it, in responseExtensions.
//
// Signed responses are cached per serial and CertID hash algorithm, signed
// again at half their validity while clients keep asking, dropped at once
// when the certificate is revoked here (OnRevoke) or by another replica
// (followed through the store's revocation events, which the responders
// prune to the latest KeepRevocationEvents; a replica that falls further
// behind drops its whole cache), and pre-signed after a revocation. A
// cache miss signs on demand, at most MaxConcurrentSigns at
// once (beyond that: tryLater). Responses carry Cache-Control max-age up
// to nextUpdate, ETag, Last-Modified and Expires, so a CDN can front the
// responder. A request with a nonce is signed for that request and not
// cached.
package ocsp
