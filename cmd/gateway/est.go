package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/protocols/est"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/open"
)

const estUsage = `usage:
  gateway est user add -profile P -user U [-password-stdin] [-replace]
      store an HTTP Basic credential for EST on profile P; without
      -password-stdin a password is generated and printed once
  gateway est user delete -profile P -user U
  gateway est user list [-profile P]

Every command takes -config FILE (default: $GATEWAY_CONFIG or var/gateway.yaml).
`

// minPasswordLen is the shortest password -password-stdin takes. The hash
// is slow, but a short password is guessed all the same.
const minPasswordLen = 12

func cmdEST(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) >= 2 && args[0] == "user" {
		switch args[1] {
		case "add":
			return cmdESTUserAdd(ctx, args[2:], stdin, stdout, stderr)
		case "delete":
			return cmdESTUserDelete(ctx, args[2:], stdout, stderr)
		case "list":
			return cmdESTUserList(ctx, args[2:], stdout, stderr)
		}
	}
	fmt.Fprint(stderr, estUsage)
	return errUsage
}

// estFlags are the flags every `est user` command shares.
type estFlags struct {
	fs      *flag.FlagSet
	cfgPath *string
	profile *string
	user    *string
}

func newESTFlags(name string, stderr io.Writer) estFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return estFlags{
		fs:      fs,
		cfgPath: fs.String("config", defaultConfigPath(), "configuration file"),
		profile: fs.String("profile", "", "profile (one that allows the est method)"),
		user:    fs.String("user", "", "user name (no colon, space or control character)"),
	}
}

// open loads the configuration, checks the profile and opens the
// store. It returns the store to close.
func (f estFlags) open(ctx context.Context, stderr io.Writer, needProfile bool) (storage.Store, storage.ESTStore, error) {
	cfg, err := loadConfig(*f.cfgPath)
	if err != nil {
		return nil, nil, err
	}
	if needProfile || *f.profile != "" {
		i := slices.IndexFunc(cfg.Profiles, func(p config.Profile) bool { return p.Name == *f.profile })
		switch {
		case *f.profile == "":
			return nil, nil, errors.New("-profile is required")
		case i < 0:
			return nil, nil, fmt.Errorf("no profile %q in %s", *f.profile, *f.cfgPath)
		case !slices.Contains(cfg.Profiles[i].Methods, "est"):
			return nil, nil, fmt.Errorf("profile %q does not allow the est method", *f.profile)
		}
	}
	log := newLogger(stderr, cfg, "")
	st, err := open.Open(ctx, cfg.Storage.Driver, cfg.Storage.Path, cfg.Storage.DSN, log)
	if err != nil {
		return nil, nil, err
	}
	es, ok := st.(storage.ESTStore)
	if !ok {
		st.Close()
		return nil, nil, fmt.Errorf("the %s store keeps no EST credentials", cfg.Storage.Driver)
	}
	return st, es, nil
}

func cmdESTUserAdd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	f := newESTFlags("est user add", stderr)
	fromStdin := f.fs.Bool("password-stdin", false, "read the password from the first line of standard input instead of generating one")
	replace := f.fs.Bool("replace", false, "set a new password if the user exists")
	if err := f.fs.Parse(args); err != nil || f.fs.NArg() > 0 {
		return errUsage
	}
	if err := est.ValidUsername(*f.user); err != nil {
		return err
	}
	var password string
	if *fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read the password from standard input: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
		if len(password) < minPasswordLen {
			return fmt.Errorf("the password from standard input has %d characters; at least %d are required", len(password), minPasswordLen)
		}
	} else {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		password = base64.RawURLEncoding.EncodeToString(b) // 192 bits, no ':' or spaces
	}
	hash, err := est.HashPassword(password)
	if err != nil {
		return err
	}
	st, es, err := f.open(ctx, stderr, true)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	c := storage.ESTCredential{Profile: *f.profile, Username: *f.user, Hash: hash, CreatedAt: now, UpdatedAt: now}
	audit := storage.AuditEvent{
		At: now, Actor: "gateway est user add", Action: "est-user-add", Profile: c.Profile, Detail: fmt.Sprintf("user=%q", c.Username),
	}
	err = es.InsertESTCredential(ctx, c, audit)
	if errs.Is(err, errs.Conflict) {
		if !*replace {
			return fmt.Errorf("profile %s already has an EST user %q; add -replace to set a new password", c.Profile, c.Username)
		}
		audit.Action = "est-user-replace"
		err = es.UpdateESTCredential(ctx, c, audit)
	}
	if err != nil {
		return err
	}
	if *fromStdin {
		fmt.Fprintf(stdout, "EST user %q of profile %s stored\n", c.Username, c.Profile)
		return nil
	}
	fmt.Fprintln(stdout, password)
	fmt.Fprintf(stderr, "EST user %q of profile %s stored; its password, above, is not shown again\n", c.Username, c.Profile)
	return nil
}

func cmdESTUserDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newESTFlags("est user delete", stderr)
	if err := f.fs.Parse(args); err != nil || f.fs.NArg() > 0 || *f.user == "" {
		return errUsage
	}
	st, es, err := f.open(ctx, stderr, true)
	if err != nil {
		return err
	}
	defer st.Close()
	err = es.DeleteESTCredential(ctx, *f.profile, *f.user, storage.AuditEvent{
		At: time.Now(), Actor: "gateway est user delete", Action: "est-user-delete", Profile: *f.profile, Detail: fmt.Sprintf("user=%q", *f.user),
	})
	if errs.Is(err, errs.NotFound) {
		return fmt.Errorf("profile %s has no EST user %q", *f.profile, *f.user)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "EST user %q of profile %s deleted\n", *f.user, *f.profile)
	return nil
}

func cmdESTUserList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newESTFlags("est user list", stderr)
	if err := f.fs.Parse(args); err != nil || f.fs.NArg() > 0 || *f.user != "" {
		return errUsage
	}
	st, es, err := f.open(ctx, stderr, false)
	if err != nil {
		return err
	}
	defer st.Close()
	creds, err := es.ListESTCredentials(ctx, *f.profile)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tUSER\tCREATED\tPASSWORD SET")
	for _, c := range creds {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Profile, c.Username, c.CreatedAt.Format(time.RFC3339), c.UpdatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}
