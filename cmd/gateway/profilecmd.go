package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/open"
)

// profileCommand is the start of a command that acts on one profile's
// enrollment credentials (`acme eab create`, `scep challenge`): it adds
// -config and -profile to fs (after the command's own flags), parses
// args, checks that the profile allows method, and opens the store, which
// the caller closes.
func profileCommand(ctx context.Context, fs *flag.FlagSet, args []string, method string, stderr io.Writer) (profile string, st storage.Store, err error) {
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	p := fs.String("profile", "", "profile the credential is for (it must allow "+method+")")
	if err := fs.Parse(args); err != nil {
		return "", nil, errUsage
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return "", nil, err
	}
	if !allows(cfg, *p, method) {
		return "", nil, fmt.Errorf("-profile: %q is not a profile that allows %s", *p, method)
	}
	st, err = open.Open(ctx, cfg.Storage.Driver, cfg.Storage.Path, cfg.Storage.DSN, newLogger(stderr, cfg, ""))
	if err != nil {
		return "", nil, err
	}
	return *p, st, nil
}

func allows(cfg *config.Config, profile, method string) bool {
	for _, p := range cfg.Profiles {
		if p.Name == profile {
			return p.Allows(method)
		}
	}
	return false
}
