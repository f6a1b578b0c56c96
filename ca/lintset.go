package ca

// PrivatePKIExcludedSources names the zlint sources a private CA leaves
// out: the EV Guidelines and ETSI's rules apply only to publicly trusted
// (qualified, extended-validation) certificates, and the Apple, Mozilla and
// Chrome root store policies only to CAs in those root stores. Left on,
// they cost time on every certificate and can only ever reject certificates
// for rules that do not bind a private CA (Chrome's, for one, forbids
// clientAuth in TLS server certificates from 2027). The RFC lints, the
// CA/B Forum Baseline Requirements (TLS, S/MIME, code signing) and the
// community lints stay on.
func PrivatePKIExcludedSources() []string {
	return []string{"ETSI_ESI", "CABF_EV", "Apple", "Mozilla", "Chrome"}
}

// PrivatePKIExcludedLints names the CA/B Forum lints that a private CA
// leaves out on top of DefaultExcludedLints. The Baseline Requirements are
// written for publicly trusted TLS, where certificates for internal names
// and reserved addresses are forbidden; a private gateway exists to issue
// exactly those (localhost, 127.0.0.1, router.lan, printer.internal, the
// .test names of a lab), and its own URLs in AIA are internal names too.
//
//   - e_dnsname_not_valid_tld: a DNS name outside the public TLD list.
//   - e_ext_san_contains_reserved_ip, e_subject_contains_reserved_ip: an
//     IP SAN, or a subject CN repeating it, in a reserved range.
//   - e_ext_nc_intersects_reserved_ip: a CA's name constraints on reserved
//     ranges (cas[].name_constraints: 10.0.0.0/8 for a site's devices).
//   - w_sub_cert_aia_contains_internal_names: AIA URLs on internal names.
//   - w_subject_common_name_included: the BRs discourage a subject CN; a
//     profile decides (names.common_name), and many devices, EST and SCEP
//     clients and certbot's CSRs carry one. It must still repeat a SAN
//     unless the profile says otherwise, and e_subject_common_name_not_from_san
//     stays on for that.
//   - e_algorithm_identifier_improper_encoding: the BRs (7.1.3.1) list the
//     RSA and ECDSA key encodings only; a private CA certifies the Ed25519
//     keys (RFC 8410) its profiles allow (key_types), and the gateway's
//     templates encode RSA and ECDSA keys with crypto/x509.
//   - e_ext_san_uniform_resource_identifier_present: the BRs allow only
//     DNS names and IP addresses in a TLS certificate's SAN; a private CA
//     issues URI SANs where a profile allows them (names.uris), such as
//     the SPIFFE IDs of service-mesh workloads. RFC 5280's URI lints stay
//     on (absolute URI, IA5String, a host that is a name or an address).
//   - e_crl_distrib_points_not_http: the BRs want plain-HTTP CRL URLs; a
//     CA's CRL mirrors may be https:// (RFC 5280 allows any URI), which
//     relying parties that can fetch them over TLS are free to use.
//   - the lifetime schedule of TLS server certificates (BR 6.3.2, ballot
//     SC-081: 200 days from 2026-03-15, 100 from 2027-03-15, 47 from
//     2029-03-15; 825 days and 39 months before): a private CA's profiles
//     set its lifetimes (max_validity), as devices enrolled over EST and
//     SCEP often need a year or more, and a public schedule that tightens
//     by date would otherwise refuse tomorrow what a profile allows today.
//
// Every other lint, CA/B Forum included, stays on.
func PrivatePKIExcludedLints() []string {
	return []string{
		"e_server_cert_valid_time_longer_than_200_days",
		"w_server_cert_valid_time_longer_than_199_days",
		"e_server_cert_valid_time_longer_than_100_days",
		"w_server_cert_valid_time_longer_than_99_days",
		"e_server_cert_valid_time_longer_than_47_days",
		"w_server_cert_valid_time_longer_than_46_days",
		"e_sub_cert_valid_time_longer_than_825_days",
		"e_sub_cert_valid_time_longer_than_39_months",
		"e_dnsname_not_valid_tld",
		"e_ext_san_contains_reserved_ip",
		"e_ext_nc_intersects_reserved_ip",
		"e_ext_san_uniform_resource_identifier_present",
		"e_subject_contains_reserved_ip",
		"w_sub_cert_aia_contains_internal_names",
		"w_subject_common_name_included",
		"e_crl_distrib_points_not_http",
		"e_algorithm_identifier_improper_encoding",
	}
}
