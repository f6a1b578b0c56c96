// Package e2e drives the built gateway binary the way a user does: through
// the quickstart script, over the network, with real clients.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// gatewayBin is the binary built once for the whole package.
var gatewayBin string

// repoRoot is the repository, where scripts/ lives.
var repoRoot string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "gateway-e2e-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		repoRoot, err = filepath.Abs("../..")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		gatewayBin = filepath.Join(dir, "gateway")
		cmd := exec.Command("go", "build", "-o", gatewayBin, "./cmd/gateway")
		cmd.Dir = repoRoot
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building the gateway:", err)
			return 1
		}
		// step-ca takes minutes to build the first time: start while the
		// other tests run.
		go stepcaBin()
		return m.Run()
	}())
}
