package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/certgw/gateway/storage"
)

// cmdRequestList is `gateway request list [-profile P] [-status S]`: the
// enrollment requests held for approval, newest first, one per line: ID,
// profile, method, status, created, requester, names.
func cmdRequestList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("request list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	profile := fs.String("profile", "", "only this profile's requests")
	status := fs.String("status", storage.RequestPending, "only requests in this status: pending, approved, rejected, issued, failed, expired, or all")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	f := storage.RequestFilter{Profile: *profile, Status: *status, Limit: 1000}
	if f.Status == "all" {
		f.Status = ""
	}
	st, err := openStore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	reqs, err := st.ListRequests(ctx, f)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, r := range reqs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Profile, r.Method, r.Status,
			r.CreatedAt.UTC().Format(time.RFC3339), r.Requester, strings.Join(r.Names, ","))
	}
	return w.Flush()
}

// cmdRequestDecide is `gateway request approve -id ID` and `gateway
// request reject -id ID [-reason R]`. Approving issues the certificate, so
// it needs the token as `gateway serve` does; the decision is audited
// with the operator's login name.
func cmdRequestDecide(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("request "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	id := fs.String("id", "", "the request's ID, as request list prints it (required)")
	reason := fs.String("reason", "", "why it is rejected; its requester is told (reject only)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *id == "" || verb == "approve" && *reason != "" {
		fmt.Fprintf(stderr, "usage: gateway request %s -id ID", verb)
		if verb == "reject" {
			fmt.Fprint(stderr, " [-reason R]")
		}
		fmt.Fprintln(stderr, " [-config FILE]")
		return errUsage
	}
	actor := cliActor("gateway request " + verb)
	d, core, err := openConfigCore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer d.Close()
	// The profile's webhook hears the outcome, as from gateway serve.
	told, err := notifyFromCLI(d, core, stderr)
	if err != nil {
		return err
	}
	defer told()
	if verb == "reject" {
		r, err := core.Reject(ctx, *id, actor, *reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rejected request %s of profile %s (%s)\n", r.ID, r.Profile, strings.Join(r.Names, ","))
		return nil
	}
	issued, err := core.Approve(ctx, *id, actor)
	if err != nil {
		return err
	}
	if issued == nil { // one approval of several
		r, err := d.store.GetRequest(ctx, *id)
		if err != nil {
			return err
		}
		need := core.Profiles[r.Profile].Approvals
		fmt.Fprintf(stdout, "approval of request %s recorded: %d of the %d it needs (by %s); it waits for %d more, each by another operator\n",
			*id, len(r.Approvals), need, strings.Join(storage.Approvers(r.Approvals), ", "), need-len(r.Approvals))
		return nil
	}
	fmt.Fprintf(stdout, "approved request %s: certificate %s issued until %s; its requester gets it on its next attempt\n",
		*id, issued.Serial, issued.Cert.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// notifyWait bounds how long a decision on the command line waits for the
// webhook to be told of its outcome.
const notifyWait = 15 * time.Second
