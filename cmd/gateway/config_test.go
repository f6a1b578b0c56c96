package main

import (
	"os"
	"path/filepath"
	"testing"
)

// testConfig writes a configuration for the commands' tests: an embedded
// store and a software signer under a temporary directory, the CAs root
// and issuing, and profiles (YAML list items, each on a line of its own
// and indented by two spaces). It returns the configuration's path and
// the database's.
func testConfig(t *testing.T, profiles string) (cfg, db string) {
	t.Helper()
	dir := t.TempDir()
	cfg = filepath.Join(dir, "gateway.yaml")
	db = filepath.Join(dir, "gateway.db")
	yaml := `listen: {tls: {cert_file: ` + dir + `/tls.pem, key_file: ` + dir + `/tls.key}}
storage: {driver: sqlite, path: ` + db + `}
signer: {type: software, software: {dir: ` + dir + `/keys}}
keystore: {kek_file: ` + dir + `/kek}
cas: [{name: root}, {name: issuing, parent: root}]
profiles:
` + profiles
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, db
}
