package main

import (
	"context"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"os"
)

func cmdInit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	rootOut := fs.String("root-out", "", "write the root CA certificate (PEM) to this file")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg, "")
	d, err := openDeps(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	created, err := d.hierarchy().Init(ctx)
	if err != nil {
		return err
	}
	if len(created) == 0 {
		fmt.Fprintln(stdout, "CA hierarchy exists; nothing created")
	} else {
		fmt.Fprintf(stdout, "created CAs: %v\n", created)
	}
	if *rootOut != "" {
		cas, err := d.hierarchy().Load(ctx)
		if err != nil {
			return err
		}
		for _, c := range cfg.CAs {
			if c.Parent != "" {
				continue
			}
			pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cas[c.Name].Cert().Raw})
			if err := os.WriteFile(*rootOut, pemBytes, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "root certificate %q written to %s\n", c.Name, *rootOut)
			break
		}
	}
	return nil
}
