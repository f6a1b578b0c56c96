// Package softhsm makes throwaway SoftHSM tokens for tests.
//
// SoftHSM reads SOFTHSM2_CONF when a process calls C_Initialize, so New
// sets it for the test (t.Setenv: such tests cannot run in parallel). Two
// tokens that must fail independently, as two HSMs would, need two
// instances of the library: CopyModule copies it, and the dynamic loader
// then maps the copy as a separate library with its own state.
package softhsm

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// PIN and SOPIN are the PINs of every test token.
const (
	PIN   = "1234"
	SOPIN = "5678"
)

// modulePaths are where Debian and other distributions install SoftHSM.
var modulePaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",
}

// Module returns the path of the SoftHSM PKCS#11 module, or fails the test
// saying how to install it.
func Module(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SOFTHSM2_MODULE"); p != "" {
		return p
	}
	for _, p := range modulePaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("SoftHSM is not installed (looked in %v): run `make test`, which installs it, or `apt-get install softhsm2`", modulePaths)
	return ""
}

// Env is a SoftHSM configuration with its own token directory.
type Env struct {
	Dir    string // holds softhsm2.conf and tokens/
	Conf   string
	Module string
}

// New writes a SoftHSM configuration in a temporary directory, points
// SOFTHSM2_CONF at it for the rest of the test and initialises one token
// per label, each with PIN and SOPIN.
func New(t testing.TB, labels ...string) *Env {
	t.Helper()
	e := &Env{Dir: t.TempDir(), Module: Module(t)}
	if err := os.Mkdir(filepath.Join(e.Dir, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.Conf = filepath.Join(e.Dir, "softhsm2.conf")
	conf := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
		filepath.Join(e.Dir, "tokens"))
	if err := os.WriteFile(e.Conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", e.Conf)
	for _, l := range labels {
		e.InitToken(t, l)
	}
	return e
}

// InitToken initialises a token with the label in the next free slot.
func (e *Env) InitToken(t testing.TB, label string) {
	t.Helper()
	e.util(t, "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SOPIN)
}

// Import puts the PKCS#8 PEM key at keyFile into the token under label.
func (e *Env) Import(t testing.TB, token, keyFile, label string) {
	t.Helper()
	id := make([]byte, 8)
	rand.Read(id)
	e.util(t, "--import", keyFile, "--token", token, "--label", label, "--id", hex.EncodeToString(id), "--pin", PIN)
}

// TokenDir returns the directory that holds the token with the label.
func (e *Env) TokenDir(t testing.TB, label string) string {
	t.Helper()
	out := e.util(t, "--show-slots")
	// Each token's serial is the last 16 hex digits of its directory name
	// without dashes; match the serial listed just before the label.
	var serial string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "Serial number:"); ok {
			serial = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "Label:"); ok && strings.TrimSpace(v) == label {
			break
		}
	}
	entries, err := os.ReadDir(filepath.Join(e.Dir, "tokens"))
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		if serial != "" && strings.HasSuffix(strings.ReplaceAll(en.Name(), "-", ""), serial) {
			return filepath.Join(e.Dir, "tokens", en.Name())
		}
	}
	t.Fatalf("no token directory for label %q (serial %q)", label, serial)
	return ""
}

func (e *Env) util(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command("softhsm2-util", args...)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+e.Conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// CopyModule copies the SoftHSM module into a temporary directory so that
// the process loads a second, independent instance of it.
func (e *Env) CopyModule(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(e.Module)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "libsofthsm2.so")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
