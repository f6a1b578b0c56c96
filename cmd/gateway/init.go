package main

import (
	"context"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/certgw/gateway/ca"
)

func cmdInit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	rootOut := fs.String("root-out", "", "write the root CA certificate (PEM) to this file")
	csrDir := fs.String("csr-dir", "", "where the certificate requests of external CAs are written as NAME.csr (default: the configuration file's directory)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *csrDir == "" {
		*csrDir = filepath.Dir(*cfgPath)
	}
	log := newLogger(stderr, cfg, "")
	d, err := openDeps(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	res, err := d.hierarchy().Init(ctx)
	if err != nil {
		return err
	}
	if len(res.Created) == 0 && len(res.Waiting) == 0 {
		fmt.Fprintln(stdout, "CA hierarchy exists; nothing created")
	} else if len(res.Created) > 0 {
		fmt.Fprintf(stdout, "created CAs: %v\n", res.Created)
	}
	for _, w := range res.Waiting {
		if w.CSR == nil {
			fmt.Fprintf(stdout, "CA %s waits for CA %s\n", w.Name, w.Under)
			continue
		}
		path := filepath.Join(*csrDir, w.Name+".csr")
		if err := os.WriteFile(path, ca.RequestPEM(w.CSR), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "CA %s waits for its certificate: have %s signed by the external CA, then run\n"+
			"  gateway ca import -ca %s -cert FILE   (FILE: its certificate and those above it, up to the root)\n"+
			"and gateway init again for the CAs under it\n", w.Name, path, w.Name)
	}
	if *rootOut != "" {
		if len(res.Waiting) > 0 {
			return fmt.Errorf("-root-out: not written while CAs wait for their certificates")
		}
		cas, err := d.hierarchy().Load(ctx)
		if err != nil {
			return err
		}
		for _, c := range cfg.CAs {
			if c.Parent != "" {
				continue
			}
			full := cas[c.Name].Full() // an external CA's ends at the external root
			root := full[len(full)-1]
			if err := os.WriteFile(*rootOut, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "root certificate %q (%s) written to %s\n", c.Name, root.Subject, *rootOut)
			break
		}
	}
	return nil
}
