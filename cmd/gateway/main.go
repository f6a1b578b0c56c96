// Command gateway is the certificate protocol gateway: one binary with
// subcommands. It parses flags, loads the configuration and wires the
// packages together; the logic lives in those packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/certgw/gateway/config"
)

const usage = `usage: gateway <command> [flags]

commands:
  init           create the CA hierarchy of the configuration (idempotent)
  ca list        list the CAs and when their certificates end
  ca renew -ca CA [-validity D]
                 certify a CA's key again (same subject and key, new lifetime)
  ca revoke -ca CA [-reason R]
                 revoke a subordinate CA (its parent's CRL and OCSP say so)
  ca csr -ca CA [-o FILE] | ca import -ca CA -cert FILE
                 request and install the certificate of a CA certified by an external CA
  serve          run the gateway
  check          say whether serve would start with the configuration, changing nothing
  token create|list|revoke
                 create a REST API token (printed once), list tokens, revoke one
  crl dump       write a CA's current CRL (DER or PEM) for a mirror
  est user add|delete|list
                 manage EST HTTP Basic users of a profile
  acme eab create -profile P
                 create an ACME External Account Binding key
  scep challenge -profile P [-valid-for D]
                 create a one-time SCEP challengePassword
  request list [-profile P] [-status S]
                 list enrollment requests held for approval
  request approve -id ID | request reject -id ID [-reason R]
                 approve (issue) or reject a held request
  cert list [-profile P] [-status S] [-san TEXT] [-expiring-within D]
                 list certificates of the inventory
  cert show -serial S [-pem] | cert revoke -serial S [-reason R]
                 show or revoke one certificate
  cert revoke [-profile P] [-san S] ... [-dry-run]
                 revoke every active certificate the filters select
  cert block-key -file PEM -reason R | cert blocked-keys
                 block a key (nothing is issued for it any more), list blocked keys
  audit list [-action A] [-actor A] [-serial S] [-within D]
                 print the audit trail, newest first
  audit seal | audit verify [-file EXPORT -pubkey PEM] | audit export -o FILE
                 seal the audit trail now with the audit key; check it (or an export) against its seals
  backup -o FILE copy the embedded store while the gateway runs
  tidy           delete the expired and decided records storage.tidy no longer keeps
  keystore status|rotate|retire
                 the key-encryption keys of held keys: list, rotate, drop unused
  version        print the version

Every command takes -config FILE (default: $GATEWAY_CONFIG or var/gateway.yaml).
Run "gateway <command> -h" for its flags.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "gateway:", err)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "init":
		return cmdInit(ctx, args[1:], stdout, stderr)
	case "serve":
		return cmdServe(ctx, args[1:], stderr)
	case "check":
		return cmdCheck(ctx, args[1:], stdout, stderr)
	case "ca":
		if len(args) > 1 {
			switch args[1] {
			case "list":
				return cmdCAList(ctx, args[2:], stdout, stderr)
			case "renew":
				return cmdCARenew(ctx, args[2:], stdout, stderr)
			case "revoke":
				return cmdCARevoke(ctx, args[2:], stdout, stderr)
			case "csr":
				return cmdCACSR(ctx, args[2:], stdout, stderr)
			case "import":
				return cmdCAImport(ctx, args[2:], stdout, stderr)
			}
		}
	case "token":
		if len(args) > 1 {
			switch args[1] {
			case "create":
				return cmdTokenCreate(ctx, args[2:], stdout, stderr)
			case "list":
				return cmdTokenList(ctx, args[2:], stdout, stderr)
			case "revoke":
				return cmdTokenRevoke(ctx, args[2:], stdout, stderr)
			}
		}
	case "crl":
		if len(args) > 1 && args[1] == "dump" {
			return cmdCRLDump(ctx, args[2:], stdout, stderr)
		}
	case "est":
		return cmdEST(ctx, args[1:], os.Stdin, stdout, stderr)
	case "acme":
		if len(args) > 2 && args[1] == "eab" && args[2] == "create" {
			return cmdACMEEABCreate(ctx, args[3:], stdout, stderr)
		}
	case "scep":
		if len(args) > 1 && args[1] == "challenge" {
			return cmdSCEPChallenge(ctx, args[2:], stdout, stderr)
		}
	case "request":
		if len(args) > 1 {
			switch args[1] {
			case "list":
				return cmdRequestList(ctx, args[2:], stdout, stderr)
			case "approve", "reject":
				return cmdRequestDecide(ctx, args[1], args[2:], stdout, stderr)
			}
		}
	case "cert":
		if len(args) > 1 {
			switch args[1] {
			case "list":
				return cmdCertList(ctx, args[2:], stdout, stderr)
			case "show":
				return cmdCertShow(ctx, args[2:], stdout, stderr)
			case "revoke":
				return cmdCertRevoke(ctx, args[2:], stdout, stderr)
			case "block-key":
				return cmdCertBlockKey(ctx, args[2:], stdout, stderr)
			case "blocked-keys":
				return cmdCertBlockedKeys(ctx, args[2:], stdout, stderr)
			}
		}
	case "backup":
		return cmdBackup(ctx, args[1:], stdout, stderr)
	case "tidy":
		return cmdTidy(ctx, args[1:], stdout, stderr)
	case "audit":
		if len(args) > 1 {
			switch args[1] {
			case "list":
				return cmdAuditList(ctx, args[2:], stdout, stderr)
			case "seal", "verify", "export":
				return cmdAuditSeal(ctx, args[1], args[2:], stdout, stderr)
			}
		}
	case "keystore":
		if len(args) > 1 && (args[1] == "status" || args[1] == "rotate" || args[1] == "retire") {
			return cmdKeystore(ctx, args[1], args[2:], stdout, stderr)
		}
	case "version":
		fmt.Fprintln(stdout, "gateway", version)
		return nil
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return errUsage
}

func defaultConfigPath() string {
	if p := os.Getenv("GATEWAY_CONFIG"); p != "" {
		return p
	}
	return "var/gateway.yaml"
}

func loadConfig(path string) (*config.Config, error) {
	return config.Load(path, os.Environ())
}

// newLogger builds the process logger; format and level come from the
// configuration unless a flag overrides the format.
func newLogger(w io.Writer, cfg *config.Config, formatFlag string) *slog.Logger {
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[cfg.Log.Level]
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.Log.Format
	if formatFlag != "" {
		format = formatFlag
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
