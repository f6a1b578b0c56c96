package crl

// ExcludedLints names the zlint lints that the CRL lint gate leaves out on
// top of the gateway's certificate exclusions; cmd/gateway adds them to the
// linter it gives the Builder.
//
//   - e_cab_crl_has_valid_reason_code: CA/B Forum BR 7.2.2 allows only the
//     reasons keyCompromise, affiliationChanged, superseded,
//     cessationOfOperation and privilegeWithdrawn in CRLs of publicly
//     trusted TLS certificates. The gateway's REST API and core accept every
//     RFC 5280 reason (cACompromise, certificateHold, aACompromise too), and
//     one such revocation would otherwise stop every later CRL of its CA:
//     relying parties would be left with an expiring CRL, which is far worse
//     than a reason the BRs do not list. The RFC 5280 lint on reason codes
//     (e_crl_has_valid_reason_code) stays on.
//   - e_crl_extensions_validity: CA/B Forum BR 7.2.2 calls any CRL
//     extension besides the authority key identifier, the CRL number and
//     the issuing distribution point NOT RECOMMENDED, so it warns on the
//     freshestCRL and deltaCRLIndicator of delta CRLs (RFC 5280 5.2.4,
//     5.2.6), which an operator turns on per CA (delta_validity). The
//     encoder writes no other extension, so the lint has nothing else to
//     find; the README says that publicly trusted TLS CAs should not turn
//     delta CRLs on.
func ExcludedLints() []string {
	return []string{"e_cab_crl_has_valid_reason_code", "e_crl_extensions_validity"}
}
