package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/certgw/gateway/protocols/acme"
	"github.com/certgw/gateway/storage/open"
)

// cmdACMEEABCreate is `gateway acme eab create --profile P`: it makes an
// External Account Binding key and prints its ID and MAC key (base64url),
// the two values certbot (--eab-kid, --eab-hmac-key) and lego (--kid,
// --hmac) take. The key can create one account.
func cmdACMEEABCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("acme eab create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	profile := fs.String("profile", "", "profile whose ACME directory the key is for")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	found := false
	for _, p := range cfg.Profiles {
		if p.Name == *profile {
			for _, m := range p.Methods {
				found = found || m == "acme"
			}
		}
	}
	if !found {
		return fmt.Errorf("-profile: %q is not a profile that allows acme", *profile)
	}
	log := newLogger(stderr, cfg, "")
	st, err := open.Open(ctx, cfg.Storage.Driver, cfg.Storage.Path, cfg.Storage.DSN, log)
	if err != nil {
		return err
	}
	defer st.Close()
	as, ok := st.(acme.EABKeyStore)
	if !ok {
		return fmt.Errorf("the store does not keep ACME state")
	}
	kid, key, err := acme.CreateEABKey(ctx, as, *profile, "gateway acme eab create", time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "kid: %s\nhmac_key: %s\n", kid, key)
	return nil
}
