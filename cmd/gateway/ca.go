package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/certgw/gateway/api"
	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
)

// cmdCAList prints the CAs the store holds with their certificates'
// lifetimes, so that an operator sees a renewal coming. It reads the store
// only: no token is needed.
func cmdCAList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ca list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	st, err := openStore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	cas, err := st.ListCAs(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tPARENT\tSERIAL\tNOT AFTER\tDAYS LEFT\tSUBJECT\tKEY")
	for _, rec := range ca.ParentsFirst(cas) {
		parent := rec.Parent
		switch {
		case rec.Chain != nil:
			parent = "(external)"
		case parent == "":
			parent = "-"
		}
		if dir, ok := rec.Upstream(); ok {
			fmt.Fprintf(w, "%s\t-\t-\t-\t-\texternal ACME CA\t%s\n", rec.Name, dir)
			continue
		}
		cert, err := x509.ParseCertificate(rec.CertDER)
		if err != nil {
			return fmt.Errorf("CA %s: stored certificate: %w", rec.Name, err)
		}
		serial := ca.SerialHex(cert.SerialNumber)
		days := strconv.Itoa(ca.DaysLeft(now, cert.NotAfter))
		// A revoked CA's certificates are in the inventory (ca revoke).
		if st, err := st.CertificateStatus(ctx, serial); err == nil && st.Status == storage.StatusRevoked {
			days = "revoked"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", rec.Name, parent, serial,
			cert.NotAfter.UTC().Format(time.RFC3339), days, cert.Subject, rec.KeyURI)
	}
	// The configuration's CAs the store does not hold yet.
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	stored := map[string]bool{}
	for _, rec := range cas {
		stored[rec.Name] = true
	}
	for _, c := range cfg.CAs {
		switch {
		case stored[c.Name]:
		case c.External:
			fmt.Fprintf(w, "%s\t(external)\t-\t-\t-\twaits for its certificate: gateway ca import -ca %s -cert FILE\t-\n", c.Name, c.Name)
		default:
			parent := c.Parent
			if parent == "" {
				parent = "-"
			}
			fmt.Fprintf(w, "%s\t%s\t-\t-\t-\tnot created yet: gateway init\t-\n", c.Name, parent)
		}
	}
	return w.Flush()
}

// cmdCARevoke revokes a subordinate CA (ca.Hierarchy.Revoke): its
// certificates go on its parent's CRL and OCSP says revoked; running
// gateways stop issuing under it within a minute (at once on SIGHUP).
func cmdCARevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ca revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	name := fs.String("ca", "", "name of the subordinate CA (required)")
	reasonName := fs.String("reason", "", "RFC 5280 CRLReason, e.g. keyCompromise, cACompromise, cessationOfOperation (default unspecified)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *name == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: gateway ca revoke -ca CA [-reason R] [-config FILE]")
		return errUsage
	}
	reason, err := api.ReasonCode(*reasonName)
	if err != nil {
		return fmt.Errorf("-reason: %w", err)
	}
	deps, err := openConfigDeps(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer deps.Close()
	r, err := deps.hierarchy().Revoke(ctx, *name, reason, "gateway ca revoke")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked CA %s: certificates %s are on the CRL of %s and revoked in its OCSP answers\n", r.CA, strings.Join(r.Serials, ", "), r.Parent)
	fmt.Fprintf(stdout, "running gateways stop issuing under it within %s (send one SIGHUP to reload at once)\n", ca.ReloadInterval)
	return nil
}

// cmdCARenew certifies a CA's key once more (ca.Hierarchy.Renew): same
// subject and key, a new serial and lifetime. It needs the token (the
// parent's key signs; a root signs itself).
func cmdCARenew(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ca renew", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	name := fs.String("ca", "", "name of the CA (required)")
	validity := fs.String("validity", "", `lifetime from now, e.g. "1825d" (default: the CA's validity in the configuration)`)
	out := fs.String("o", "", "also write the new certificate (PEM) to this file")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *name == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: gateway ca renew -ca CA [-validity D] [-o FILE] [-config FILE]")
		return errUsage
	}
	var d config.Duration
	if *validity != "" {
		var err error
		if d, err = config.ParseDuration(*validity); err != nil || d <= 0 {
			return fmt.Errorf("-validity %q: want a positive duration such as 1825d or 8760h", *validity)
		}
	}
	deps, err := openConfigDeps(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer deps.Close()
	r, err := deps.hierarchy().Renew(ctx, *name, d.D(), "gateway ca renew")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "renewed CA %s: certificate %s valid until %s replaces %s (until %s)\n", r.CA,
		ca.SerialHex(r.Renewed.SerialNumber), r.Renewed.NotAfter.UTC().Format(time.RFC3339),
		ca.SerialHex(r.Old.SerialNumber), r.Old.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(stdout, "running gateways serve it within %s (send one SIGHUP to reload at once)\n", ca.ReloadInterval)
	if *out != "" {
		if err := os.WriteFile(*out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.Renewed.Raw}), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "certificate written to %s\n", *out)
	}
	return nil
}

// openConfigDeps loads the configuration at cfgPath and opens what it
// names (store, signer), for a command that works on the CAs.
func openConfigDeps(ctx context.Context, cfgPath string, stderr io.Writer) (*deps, error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	return openDeps(ctx, cfg, newLogger(stderr, cfg, ""))
}

// openConfigCore is openConfigDeps with the issuance core loaded over the
// CAs, for a command that issues or revokes as gateway serve does. The
// caller closes the deps.
func openConfigCore(ctx context.Context, cfgPath string, stderr io.Writer) (*deps, *ca.Core, error) {
	d, err := openConfigDeps(ctx, cfgPath, stderr)
	if err != nil {
		return nil, nil, err
	}
	core, err := d.loadCore(ctx)
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	return d, core, nil
}

// cliActor names the operator of a command in the audit trail: cli: and
// the login name, or fallback (the command) if that is unknown.
func cliActor(fallback string) string {
	if u, err := user.Current(); err == nil {
		return "cli:" + u.Username
	}
	return fallback
}

// cmdCACSR writes a certificate request for the key of a CA that an
// external CA certifies (ca.Hierarchy.Request), for a first certificate
// or a new one before the current ends. It needs the token.
func cmdCACSR(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ca csr", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	name := fs.String("ca", "", "name of the CA (cas[].external; required)")
	out := fs.String("o", "", "write the request (PEM) to this file instead of standard output")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *name == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: gateway ca csr -ca CA [-o FILE] [-config FILE]")
		return errUsage
	}
	deps, err := openConfigDeps(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer deps.Close()
	der, err := deps.hierarchy().Request(ctx, *name)
	if err != nil {
		return err
	}
	if *out == "" {
		_, err := stdout.Write(ca.RequestPEM(der))
		return err
	}
	if err := os.WriteFile(*out, ca.RequestPEM(der), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "certificate request of CA %s written to %s\n", *name, *out)
	return nil
}

// cmdCAImport installs the certificate an external CA issued for one of
// the gateway's CAs, with the chain above it (ca.Hierarchy.Import).
func cmdCAImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ca import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	name := fs.String("ca", "", "name of the CA (cas[].external; required)")
	certFile := fs.String("cert", "", "PEM or DER file: the CA's certificate and those above it, up to and including the root (required)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *name == "" || *certFile == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: gateway ca import -ca CA -cert FILE [-config FILE]")
		return errUsage
	}
	data, err := os.ReadFile(*certFile)
	if err != nil {
		return err
	}
	deps, err := openConfigDeps(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer deps.Close()
	im, err := deps.hierarchy().Import(ctx, *name, data, cliActor("gateway ca import"))
	if err != nil {
		return err
	}
	root := im.Chain[len(im.Chain)-1]
	fmt.Fprintf(stdout, "imported the certificate of CA %s: %s, issued by %s, valid until %s, under the root %s\n", im.CA,
		ca.SerialHex(im.Cert.SerialNumber), im.Cert.Issuer, im.Cert.NotAfter.UTC().Format(time.RFC3339), root.Subject)
	if im.Replaces != nil {
		fmt.Fprintf(stdout, "it replaces %s (until %s); running gateways serve it within %s (send one SIGHUP to reload at once)\n",
			ca.SerialHex(im.Replaces.SerialNumber), im.Replaces.NotAfter.UTC().Format(time.RFC3339), ca.ReloadInterval)
	}
	if im.Lint != "" {
		fmt.Fprintf(stdout, "the lint gate finds, in the certificate the external CA made (installed anyway): %s\n", im.Lint)
	}
	if len(im.Uncreated) > 0 {
		fmt.Fprintf(stdout, "run gateway init to create the CAs under it: %s\n", strings.Join(im.Uncreated, ", "))
	}
	return nil
}
