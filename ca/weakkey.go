package ca

import (
	"crypto"
	"crypto/rsa"

	"github.com/titanous/rocacheck"

	"github.com/certgw/gateway/errs"
)

// CheckWeakKey refuses (errs.BadCSR) a public key that is weak by how it
// was made, whatever its size: an RSA modulus from the Infineon library
// of CVE-2017-15361 (ROCA), whose factors can be computed from it. Smart
// cards and TPMs of 2012-2017 made such keys, and devices enrolling over
// EST or SCEP may still hold them. The check is a few residues of the
// modulus (rocacheck), cheap beside the RSA signature check of the CSR.
func CheckWeakKey(pub crypto.PublicKey) error {
	if k, ok := pub.(*rsa.PublicKey); ok && rocacheck.IsWeak(k) {
		return errs.New(errs.BadCSR, "the public key is an RSA modulus made by the Infineon library of CVE-2017-15361 (ROCA), whose factors can be computed from it; make a new key on updated firmware")
	}
	return nil
}
