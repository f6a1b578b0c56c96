package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/open"
)

// cmdCRLDump writes the CRL a CA currently publishes, for operators who
// host their own mirrors (the URLs in cas[].crl_mirrors). It reads the
// store only: no token is needed, and what it writes is exactly what the
// gateway serves at /crl/CA.crl, checked against the CA's certificate.
func cmdCRLDump(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("crl dump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	caName := fs.String("ca", "", "name of the CA (required)")
	format := fs.String("format", "DER", "DER or PEM")
	out := fs.String("o", "-", `file to write ("-": standard output)`)
	delta := fs.Bool("delta", false, "the delta CRL published with the full CRL (cas[].crl.delta_validity)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *caName == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: gateway crl dump --ca CA [--delta] [--format DER|PEM] [-o FILE] [-config FILE]")
		return errUsage
	}
	f := strings.ToUpper(*format)
	if f != "DER" && f != "PEM" {
		return fmt.Errorf("--format must be DER or PEM, got %q", *format)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg, "")
	st, err := open.Open(ctx, cfg.Storage.Driver, cfg.Storage.Path, cfg.Storage.DSN, log)
	if err != nil {
		return err
	}
	defer st.Close()
	rs, ok := st.(storage.RevocationStore)
	if !ok {
		return errs.New(errs.Internal, "the %s store keeps no revocation data", cfg.Storage.Driver)
	}
	rec, err := rs.LatestCRL(ctx, *caName)
	if errs.Is(err, errs.NotFound) {
		rec, caErr := st.GetCA(ctx, *caName)
		if errs.Is(caErr, errs.NotFound) {
			return fmt.Errorf("no CA named %q", *caName)
		}
		if _, ok := rec.Upstream(); ok {
			return fmt.Errorf("%s is an external ACME CA (upstreams): it publishes its own CRLs", *caName)
		}
		return fmt.Errorf("CA %s has published no CRL yet: `gateway serve` publishes the first one when it starts", *caName)
	}
	if err != nil {
		return err
	}
	what := "CRL"
	if *delta {
		if rec.Delta == nil {
			return fmt.Errorf("CA %s publishes no delta CRLs (cas[].crl.delta_validity), or `gateway serve` has not published one since they were turned on", *caName)
		}
		what = fmt.Sprintf("delta CRL (base %d)", rec.Delta.Base)
		rec.Number, rec.NextUpdate, rec.DER = rec.Delta.Number, rec.Delta.NextUpdate, rec.Delta.DER
	}
	// Check before handing it on: a mirror must not serve something that
	// relying parties would reject.
	caRec, err := st.GetCA(ctx, *caName)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caRec.CertDER)
	if err != nil {
		return err
	}
	parsed, err := x509.ParseRevocationList(rec.DER)
	if err != nil {
		return fmt.Errorf("the stored %s does not parse: %w", what, err)
	}
	if err := parsed.CheckSignatureFrom(caCert); err != nil {
		return fmt.Errorf("the stored %s is not signed by CA %s: %w", what, *caName, err)
	}

	data := rec.DER
	if f == "PEM" {
		data = pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: rec.DER})
	}
	if *out == "-" {
		_, err = stdout.Write(data)
		return err
	}
	// A CRL is public: 0644 lets the web server of a mirror read it.
	if err := ca.WriteFileAtomic(*out, data, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s %d of %s (thisUpdate %s, nextUpdate %s, %d entries) written to %s\n",
		what, rec.Number, *caName, rec.ThisUpdate.Format("2006-01-02T15:04:05Z"), rec.NextUpdate.Format("2006-01-02T15:04:05Z"),
		len(parsed.RevokedCertificateEntries), *out)
	return nil
}
