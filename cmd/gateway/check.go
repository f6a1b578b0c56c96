package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/certgw/gateway/api"
	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage/open"
)

// gateway check is a preflight for a configuration, before a deployment
// or an upgrade: it answers whether `serve` would start with it, and what
// start-up would change, without changing anything itself. It reads the
// configuration, the store's schema (without migrating), the token (the
// CAs' keys and the audit key, without making any), the CAs in the store
// against their keys and the configuration, the profiles against the
// lint gate, and the HTTPS certificate files. Each line says ok, note
// (what serve will do), warn (works, but needs attention) or FAIL (serve
// would not start, or would fail at once); any FAIL fails the command.

// checkReport collects the lines of gateway check.
type checkReport struct {
	w     io.Writer
	fails int
}

func (r *checkReport) line(status, what, format string, args ...any) {
	if status == "FAIL" {
		r.fails++
	}
	fmt.Fprintf(r.w, "%-5s %-12s %s\n", status, what, fmt.Sprintf(format, args...))
}

func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	r := &checkReport{w: stdout}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		r.line("FAIL", "config", "%v", err)
		return fmt.Errorf("check: the configuration does not load")
	}
	r.line("ok", "config", "%s: %d CAs, %d profiles", *cfgPath, len(cfg.CAs), len(cfg.Profiles))
	// Warnings of the packages opened below go to stderr, at warn level
	// at least: the report is stdout's.
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d := &deps{cfg: cfg, log: log, pre: ca.NewPresigner()}
	defer d.Close()

	storeOK := checkStore(ctx, r, d)
	if d.linter, err = newLinter(cfg.Lint); err != nil {
		r.line("FAIL", "lint", "%v", err)
	}
	if d.signer, err = openSigner(cfg, log); err != nil {
		r.line("FAIL", "token", "%v", err)
	} else {
		r.line("ok", "token", "%s signer open", cfg.Signer.Type)
		checkAuditKey(ctx, r, d)
	}
	if storeOK && d.signer != nil && d.linter != nil {
		checkCAs(ctx, r, d)
	}
	checkTLS(r, cfg)
	checkFiles(r, cfg)
	checkUpstreams(ctx, r, cfg)
	for _, o := range cfg.API.OIDC {
		// An issuer that does not answer is a warning: serve starts, and
		// its tokens are refused until it answers.
		if n, err := api.FetchOIDCKeys(ctx, o, nil); err != nil {
			r.line("warn", "oidc "+o.Name, "the key set of %s cannot be read: %v", o.Issuer, err)
		} else {
			r.line("ok", "oidc "+o.Name, "%d keys from %s", n, o.Issuer)
		}
	}
	if r.fails > 0 {
		return fmt.Errorf("check: %d problem(s): as configured, serve would not start, or would not issue", r.fails)
	}
	fmt.Fprintln(stdout, "serve can start with this configuration")
	return nil
}

// checkStore reads the schema and opens the store if it is current, so
// that opening migrates nothing. It reports whether the store is open.
func checkStore(ctx context.Context, r *checkReport, d *deps) bool {
	s := d.cfg.Storage
	where := s.Path
	if s.Driver == open.Postgres {
		where = "PostgreSQL"
	}
	applied, known, err := open.Schema(ctx, s.Driver, s.Path, s.DSN)
	switch {
	case errs.Is(err, errs.NotFound):
		r.line("FAIL", "store", "%v", err)
		return false
	case err != nil:
		r.line("FAIL", "store", "%s: %v", s.Driver, err)
		return false
	case applied == 0:
		r.line("FAIL", "store", "%s %s holds no gateway schema yet (gateway init creates it, and the CAs)", s.Driver, where)
		return false
	case applied < known:
		r.line("note", "store", "%s %s: schema %d; serve (or init) applies migrations %d to %d, which older binaries still read; the checks that need the store are left out", s.Driver, where, applied, applied+1, known)
		return false
	case applied > known:
		r.line("warn", "store", "%s %s: schema %d is newer than this binary's %d (a newer gateway migrated it; migrations only add, so this one still works)", s.Driver, where, applied, known)
	default:
		r.line("ok", "store", "%s %s: schema %d, current", s.Driver, where, applied)
	}
	if d.store, err = open.Open(ctx, s.Driver, s.Path, s.DSN, d.log); err != nil {
		r.line("FAIL", "store", "%v", err)
		return false
	}
	return true
}

// checkAuditKey looks for the audit key without making it.
func checkAuditKey(ctx context.Context, r *checkReport, d *deps) {
	label := d.cfg.Audit.KeyLabel
	_, err := ca.AuditKey(ctx, d.signer, label, false)
	switch {
	case errs.Is(err, errs.NotFound):
		r.line("note", "audit key", "%q is not in the token; serve makes it (ECDSA P-256)", label)
	case err != nil:
		r.line("FAIL", "audit key", "%q: %v", label, err)
	default:
		r.line("ok", "audit key", "%q", label)
	}
}

// checkCAs loads the CAs as serve does (each stored, of the configured
// origin, its key in the token matching its certificate), says when each
// ends, and runs the profiles' sample certificates through the lint gate.
func checkCAs(ctx context.Context, r *checkReport, d *deps) {
	cas, err := d.hierarchy().Load(ctx)
	if err != nil {
		r.line("FAIL", "cas", "%v", err)
		return
	}
	profiles, err := d.profiles(cas)
	if err != nil {
		r.line("FAIL", "profiles", "%v", err)
		return
	}
	watch := &ca.ExpiryWatch{CAs: cas, Profiles: profiles}
	names := make([]string, 0, len(cas))
	for name := range cas {
		names = append(names, name)
	}
	sort.Strings(names)
	now := time.Now()
	for _, name := range names {
		cur := cas[name].Certified()
		end := cur.Cert.NotAfter
		left := ca.DaysLeft(now, end)
		switch {
		case cur.Revoked != nil:
			r.line("FAIL", "ca "+name, "revoked (CA %s, %s, reason %d): nothing is issued under it", cur.Revoked.CA, cur.Revoked.At.UTC().Format(time.RFC3339), cur.Revoked.Reason)
		case !now.Before(end):
			r.line("FAIL", "ca "+name, "certificate ended %s; renew: %s", end.UTC().Format(time.RFC3339), ca.RenewAdvice(cas[name]))
		case end.Sub(now) < watch.Warning(name):
			r.line("warn", "ca "+name, "certificate ends %s, in %d days; renew: %s", end.UTC().Format(time.RFC3339), left, ca.RenewAdvice(cas[name]))
		default:
			r.line("ok", "ca "+name, "%s, key %s, ends %s (%d days)", cur.Cert.Subject, cas[name].Key.URI(), end.UTC().Format(time.RFC3339), left)
		}
	}
	core := &ca.Core{CAs: cas, Profiles: profiles, Now: time.Now,
		Issuer: &ca.Issuer{Linter: d.linter, Presign: d.pre, URLs: ca.URLs{Base: strings.TrimSuffix(d.cfg.Listen.PublicURL, "/")}, Now: time.Now}}
	if err := core.CheckProfiles(); err != nil {
		r.line("FAIL", "profiles", "%v", err)
		return
	}
	r.line("ok", "profiles", "%d profiles: a sample certificate of each passes the lint gate", len(profiles))
}

// checkTLS reads the HTTPS certificate files: those the operator provides
// must hold a pair that is valid now; those the gateway manages
// (listen.tls.auto) are made by serve when missing or due.
func checkTLS(r *checkReport, cfg *config.Config) {
	t := cfg.Listen.TLS
	c, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	switch {
	case err != nil && t.Auto && errors.Is(err, fs.ErrNotExist):
		r.line("note", "tls", "%s is not there yet; serve issues it from CA %s", t.CertFile, t.CA)
	case err != nil:
		r.line("FAIL", "tls", "%s, %s: %v", t.CertFile, t.KeyFile, err)
	case time.Now().After(c.Leaf.NotAfter):
		if t.Auto {
			r.line("note", "tls", "%s ended %s; serve issues it again from CA %s", t.CertFile, c.Leaf.NotAfter.UTC().Format(time.RFC3339), t.CA)
			return
		}
		r.line("FAIL", "tls", "%s ended %s", t.CertFile, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	default:
		managed := ""
		if t.Auto {
			managed = "; serve renews it from CA " + t.CA
		}
		r.line("ok", "tls", "%s for %s, ends %s%s", t.CertFile, leafNames(c.Leaf), c.Leaf.NotAfter.UTC().Format(time.RFC3339), managed)
	}
}

// leafNames lists a certificate's DNS names and IP addresses.
func leafNames(c *x509.Certificate) string {
	names := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return strings.Join(names, ", ")
}

// configFile is a file the configuration names that serve reads.
type configFile struct {
	key, path string
	secret    bool // must not be readable by group or others
}

// configFiles lists the files serve reads at start-up or on first use:
// secrets, and the certificates it trusts. The PIN file is read by the
// token's check, the HTTPS certificate by checkTLS.
func configFiles(cfg *config.Config) []configFile {
	var out []configFile
	add := func(key, path string, secret bool) {
		if path != "" {
			out = append(out, configFile{key, path, secret})
		}
	}
	add("audit.forward_secret_file", cfg.Audit.ForwardSecretFile, true)
	for i, u := range cfg.Upstreams {
		at := fmt.Sprintf("upstreams[%d]", i)
		add(at+".roots_file", u.RootsFile, false)
		add(at+".eab.hmac_file", u.EAB.HMACFile, true)
		add(at+".dns.tsig_secret_file", u.DNS.TSIGSecretFile, true)
	}
	for i, p := range cfg.Profiles {
		at := fmt.Sprintf("profiles[%d]", i)
		add(at+".notify.secret_file", p.Notify.SecretFile, true)
		add(at+".approval.notify_secret_file", p.Approval.NotifySecretFile, true)
		add(at+".est.bootstrap_cas", p.EST.BootstrapCAs, false)
		add(at+".scep.challenge_file", p.SCEP.ChallengeFile, true)
		add(at+".scep.challenge_secret_file", p.SCEP.ChallengeSecretFile, true)
		add(at+".cmp.secret_file", p.CMP.SecretFile, true)
	}
	return out
}

// checkFiles reads each file the configuration names: one that cannot be
// read fails; a secret that others may read is a warning.
func checkFiles(r *checkReport, cfg *config.Config) {
	files := configFiles(cfg)
	problems := 0
	for _, f := range files {
		fi, err := os.Stat(f.path)
		if err == nil && fi.IsDir() {
			err = fmt.Errorf("%s is a directory", f.path)
		}
		if err == nil {
			var fh *os.File
			if fh, err = os.Open(f.path); err == nil {
				fh.Close()
			}
		}
		switch {
		case err != nil:
			r.line("FAIL", "file", "%s: %v", f.key, err)
			problems++
		case f.secret && fi.Mode().Perm()&0o077 != 0:
			r.line("warn", "file", "%s: %s has mode %o; a secret should be readable by the gateway's user only (chmod 600)", f.key, f.path, fi.Mode().Perm())
			problems++
		}
	}
	if problems == 0 && len(files) > 0 {
		r.line("ok", "files", "%d files the configuration names are readable", len(files))
	}
	if k := cfg.Keystore.KEKFile; k != "" {
		if _, err := os.Stat(k); errors.Is(err, fs.ErrNotExist) {
			r.line("note", "keystore", "%s is not there yet; serve makes it (or takes the replicas' shared keys from the store)", k)
		}
	}
}

// checkUpstreams asks each external ACME CA for its directory, trusting
// its roots_file if it has one, as the issuances will. An unreachable CA
// is a warning: serve starts, and its orders fail until the CA answers.
func checkUpstreams(ctx context.Context, r *checkReport, cfg *config.Config) {
	for _, u := range cfg.Upstreams {
		what := "upstream " + u.Name
		certs, err := upstreamRoots(u)
		var unreadable *fs.PathError
		switch {
		case errors.As(err, &unreadable):
			continue // checkFiles said so
		case err != nil:
			r.line("FAIL", what, "%v", err)
			continue
		}
		tlsCfg := &tls.Config{}
		if len(certs) > 0 {
			tlsCfg.RootCAs = x509.NewCertPool()
			for _, c := range certs {
				tlsCfg.RootCAs.AddCert(c)
			}
		}
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.DirectoryURL, nil)
		if err != nil {
			r.line("FAIL", what, "directory_url %q: %v", u.DirectoryURL, err)
			continue
		}
		resp, err := client.Do(req)
		if err != nil {
			r.line("warn", what, "%s does not answer: %v (serve starts; orders of its profiles fail until it does)", u.DirectoryURL, err)
			continue
		}
		var dir struct {
			NewNonce   string `json:"newNonce"`
			NewAccount string `json:"newAccount"`
			NewOrder   string `json:"newOrder"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&dir)
		resp.Body.Close()
		switch {
		case resp.StatusCode != http.StatusOK:
			r.line("warn", what, "%s answers %s, not an ACME directory", u.DirectoryURL, resp.Status)
		case err != nil || dir.NewNonce == "" || dir.NewAccount == "" || dir.NewOrder == "":
			r.line("warn", what, "%s is not an ACME directory (RFC 8555 7.1.1: newNonce, newAccount, newOrder)", u.DirectoryURL)
		default:
			r.line("ok", what, "%s answers its directory", u.DirectoryURL)
		}
	}
}
