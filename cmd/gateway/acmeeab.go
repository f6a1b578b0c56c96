package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/certgw/gateway/protocols/acme"
)

// cmdACMEEABCreate is `gateway acme eab create --profile P`: it makes an
// External Account Binding key and prints its ID and MAC key (base64url),
// the two values certbot (--eab-kid, --eab-hmac-key) and lego (--kid,
// --hmac) take. The key can create one account.
func cmdACMEEABCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	profile, st, err := profileCommand(ctx, flag.NewFlagSet("acme eab create", flag.ContinueOnError), args, "acme", stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	kid, key, err := acme.CreateEABKey(ctx, st, profile, "gateway acme eab create", time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "kid: %s\nhmac_key: %s\n", kid, key)
	return nil
}
