package crl

import (
	"encoding/pem"
	"path/filepath"
	"strconv"

	"github.com/certgw/gateway/ca"
)

// WriteDir writes c, the CRL of CA name, into dir as the HTTP listener
// serves it: NAME.crl (DER) and NAME.pem, the shards as NAME/SHARD.crl and
// the delta CRL as NAME/delta.crl, so that a copy of dir at a mirror
// answers the same paths under /crl/. Each file is replaced atomically (a
// temporary file renamed over it): a reader sees the old CRL or the new,
// never half of one (ca.WriteFileAtomic, mode 0644: a CRL is public).
func WriteDir(dir, name string, c *Published) error {
	files := map[string][]byte{
		name + ".crl": c.DER,
		name + ".pem": pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: c.DER}),
	}
	for i, sh := range c.Shards {
		files[filepath.Join(name, strconv.Itoa(i)+".crl")] = sh.DER
	}
	if c.Delta != nil {
		files[filepath.Join(name, "delta.crl")] = c.Delta.DER
		files[filepath.Join(name, "delta.pem")] = pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: c.Delta.DER})
	}
	for rel, b := range files {
		if err := ca.WriteFileAtomic(filepath.Join(dir, rel), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
