package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/protocols/scep"
)

// cmdSCEPChallenge is `gateway scep challenge -profile P [-valid-for D]`:
// it makes a one-time challengePassword for one SCEP first enrollment
// under P and prints it, with when it expires.
func cmdSCEPChallenge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scep challenge", flag.ContinueOnError)
	validFor := fs.String("valid-for", "1h", "how long the challenge waits for its device (Go duration or days, e.g. 7d)")
	profile, st, err := profileCommand(ctx, fs, args, "scep", stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := config.ParseDuration(*validFor)
	if err != nil {
		return fmt.Errorf("-valid-for: %w", err)
	}
	challenge, expires, err := scep.CreateChallenge(ctx, st, profile, "gateway scep challenge", time.Now(), d.D())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "challenge: %s\nexpires: %s\n", challenge, expires.Format(time.RFC3339))
	return nil
}
