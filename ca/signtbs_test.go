package ca

import (
	"bytes"
	"testing"
)

// TestSplitAndAssembleSigned: splitting a certificate and assembling it
// again with its own signature gives the same DER; anything around or after
// the structure is refused.
func TestSplitAndAssembleSigned(t *testing.T) {
	h := newHierarchy(t, kindP384, kindP256)
	c := h.leaf(t, leafParams(h.issKey.Public()), testKey(t, kindP256).Public())
	tbs, alg, err := splitSigned(c.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tbs, c.RawTBSCertificate) {
		t.Fatalf("to-be-signed part differs from crypto/x509's")
	}
	der, err := assembleSigned(tbs, alg, c.Signature)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(der, c.Raw) {
		t.Fatalf("assembled certificate differs from the original")
	}
	for name, bad := range map[string][]byte{
		"trailing data":     append(bytes.Clone(c.Raw), 0),
		"truncated":         c.Raw[:len(c.Raw)-1],
		"to-be-signed only": c.RawTBSCertificate[:len(c.RawTBSCertificate):len(c.RawTBSCertificate)],
		"empty":             nil,
	} {
		if _, _, err := splitSigned(bad); err == nil {
			t.Errorf("%s: split", name)
		}
	}
}
