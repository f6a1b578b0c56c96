package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/certgw/gateway/protocols/acme"
)

// cmdACMEEABCreate is `gateway acme eab create --profile P`: it makes an
// External Account Binding key and prints its ID and MAC key (base64url),
// the two values certbot (--eab-kid, --eab-hmac-key) and lego (--kid,
// --hmac) take. The key can create one account.
func cmdACMEEABCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("acme eab create", flag.ContinueOnError)
	namesFlag := fs.String("names", "", "comma-separated DNS names, .suffixes and IP ranges (CIDR): the only identifiers the account may order (default: whatever the profile allows)")
	profile, st, err := profileCommand(ctx, fs, args, "acme", stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	var names []string
	for n := range strings.SplitSeq(*namesFlag, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	kid, key, err := acme.CreateEABKey(ctx, st, profile, names, "gateway acme eab create", time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "kid: %s\nhmac_key: %s\n", kid, key)
	if len(names) > 0 {
		fmt.Fprintf(stdout, "names: %s\n", strings.Join(names, ","))
	}
	return nil
}
