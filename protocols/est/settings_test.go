package est

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
)

func TestCompileSettings(t *testing.T) {
	compiled := func(name string, methods ...string) *ca.Profile {
		p, err := ca.CompileProfile(config.Profile{Name: name, CA: "issuing", Methods: methods, KeyTypes: []string{"ecdsa-p256"}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	profiles := map[string]*ca.Profile{"default": compiled("default", "est"), "iot": compiled("iot", "est", "api"), "web": compiled("web", "acme")}
	cas := map[string]*ca.Authority{"issuing": {Name: "issuing"}}
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	maker := newTestCA(t, "Maker").writePEM(t)

	if d := DefaultSettings(profiles); d.DefaultProfile != "default" || d.MaxBodyBytes != DefaultMaxBodyBytes {
		t.Errorf("DefaultSettings() = %+v", d)
	}
	if d := DefaultSettings(map[string]*ca.Profile{"web": profiles["web"]}); d.DefaultProfile != "" {
		t.Errorf("DefaultSettings() without a default profile = %+v", d)
	}

	ok, err := compile(Settings{Profiles: map[string]ProfileSettings{
		"iot": {Auth: []string{AuthClientCert}, BootstrapCAFile: maker, BindCSRToClientCert: true},
	}}, profiles, cas)
	if err != nil {
		t.Fatal(err)
	}
	if len(ok) != 2 || ok["web"] != nil || !ok["default"].basic || !ok["default"].clientCert || ok["iot"].basic || ok["iot"].bootstrap == nil {
		t.Errorf("compiled %+v", ok)
	}

	_, err = compile(Settings{DefaultProfile: "web", MaxBodyBytes: -1, Profiles: map[string]ProfileSettings{
		"web":     {Auth: []string{AuthBasic}},
		"default": {Auth: []string{"password"}, BootstrapCAFile: notPEM},
		"iot":     {Auth: []string{AuthBasic}, BindCSRToClientCert: true, BootstrapCAFile: filepath.Join(dir, "missing.pem")},
	}}, profiles, cas)
	if !errs.Is(err, errs.Config) {
		t.Fatalf("compile() = %v, want a Config error", err)
	}
	for _, want := range []string{
		"est.max_body_bytes: must not be negative",
		`est.default_profile: no profile "web" that allows est`,
		"profiles.web.est: the profile does not exist or does not allow est",
		`profiles.default.est.auth[0]: must be basic or client_cert, got "password"`,
		"profiles.default.est.bootstrap_cas: needs client_cert in auth",
		"profiles.default.est.bootstrap_cas: " + notPEM + ": no PEM certificate",
		"profiles.iot.est.bind_csr_to_client_cert: needs client_cert in auth",
		"profiles.iot.est.bootstrap_cas: open " + filepath.Join(dir, "missing.pem"),
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("compile() error lacks %q:\n%v", want, err)
		}
	}
}
