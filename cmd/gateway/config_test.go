package main

import (
	"bytes"
	"context"
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

// gatewayCommand runs gateway commands on the configuration cfg, as the
// binary does, and returns their standard output; what they write to
// standard error (logs, usage) goes to the test's log.
func gatewayCommand(t *testing.T, cfg string) func(args ...string) (string, error) {
	return func(args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := run(context.Background(), append(args, "-config", cfg), &out, &errOut)
		if errOut.Len() > 0 {
			t.Logf("gateway %v: %s", args, errOut.String())
		}
		return out.String(), err
	}
}
