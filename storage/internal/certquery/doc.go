// Package certquery holds what storage/sqlite and storage/postgres must do
// identically when they look up certificates, so that the two stores agree
// by construction rather than by two copies kept in step: the checks of a
// CertificateFilter and of the other arguments, the cursor of
// ListCertificates, and the text that SAN search runs on.
//
// The SQL itself stays in each store: the dialects differ (placeholders,
// booleans, collations) and each store's queries are easier to read whole.
package certquery
