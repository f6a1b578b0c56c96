package crl

import (
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// WriteDir writes c, the CRL of CA name, into dir as the HTTP listener
// serves it: NAME.crl (DER) and NAME.pem, the shards as NAME/SHARD.crl and
// the delta CRL as NAME/delta.crl, so that a copy of dir at a mirror
// answers the same paths under /crl/. Each file is replaced atomically (a
// temporary file renamed over it): a reader sees the old CRL or the new,
// never half of one.
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
		if err := WriteFileAtomic(filepath.Join(dir, rel), b); err != nil {
			return err
		}
	}
	return nil
}

// WriteFileAtomic writes b to path (mode 0644: a CRL is public) through
// a temporary file in the same directory, synced, then renamed over path,
// so that a mirror never serves half a CRL.
func WriteFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
