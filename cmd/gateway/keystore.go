package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/upstream"
)

// retireAfter is how long after a rotation the earlier keys may be
// retired: every running gateway has taken the new key up by then (they
// reload every ca.ReloadInterval), so none seals under an old one any more.
const retireAfter = 2 * ca.ReloadInterval

// cmdKeystore serves gateway keystore status|rotate|retire: the
// key-encryption keys that seal the keys the gateway holds (generated
// subject keys, upstream account keys).
func cmdKeystore(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keystore "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "usage: gateway keystore %s [-config FILE]\n", sub)
		return errUsage
	}
	d, err := openConfigDeps(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer d.Close()
	kf := d.kekFile()
	actor := cliActor("gateway keystore " + sub)
	switch sub {
	case "status":
		return keystoreStatus(ctx, d.store, kf, stdout)
	case "rotate":
		return keystoreRotate(ctx, d.store, kf, actor, stdout)
	case "retire":
		return keystoreRetire(ctx, d.store, kf, actor, stdout)
	}
	return errUsage
}

// keystoreStatus prints the keys, current first, and how many held keys
// each seals.
func keystoreStatus(ctx context.Context, st storage.Store, kf ca.KEKFile, stdout io.Writer) error {
	keys, err := kf.LoadKeys(ctx)
	if err != nil {
		return err
	}
	uses, err := sealedUnder(ctx, st)
	if err != nil {
		return err
	}
	for i, k := range keys {
		id, role := ca.KEKID(k), "earlier"
		if i == 0 {
			role = "current"
		}
		fmt.Fprintf(stdout, "%s\t%s\t%d held keys\n", id, role, uses[id])
		delete(uses, id)
	}
	if n := uses[""]; n > 0 {
		fmt.Fprintf(stdout, "unnamed\tsealed before keys were named\t%d held keys\n", n)
		delete(uses, "")
	}
	for id, n := range uses {
		fmt.Fprintf(stdout, "%s\tnot in %s\t%d held keys\n", id, kf.Path, n)
	}
	return nil
}

// keystoreRotate makes a new key the current one, publishes it, and seals
// every held key under it.
func keystoreRotate(ctx context.Context, st storage.Store, kf ca.KEKFile, actor string, stdout io.Writer) error {
	audit := storage.AuditEvent{At: time.Now(), Actor: actor, Action: "keystore-rotate"}
	keys, err := kf.Rotate(ctx, audit)
	if errs.Is(err, errs.Conflict) {
		return fmt.Errorf("another process changed the key-encryption keys meanwhile; nothing was rotated: run again (%w)", err)
	}
	if err != nil {
		return err
	}
	id := ca.KEKID(keys[0])
	if !kf.SharesKeys() { // the store's compare-and-swap audited it otherwise
		audit.Detail = "key " + id
		if _, err := st.AppendAudit(ctx, audit); err != nil {
			return fmt.Errorf("key %s is current, but not recorded in the audit trail: %w", id, err)
		}
	}
	fmt.Fprintf(stdout, "key-encryption key %s is current; %d earlier keys kept to open what they sealed\n", id, len(keys)-1)
	sealer, err := ca.NewSealer(keys...)
	if err != nil {
		return err
	}
	n, err := reseal(ctx, st, sealer)
	fmt.Fprintf(stdout, "%d held keys sealed again under %s\n", n, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "running gateways take the new key up within %s (SIGHUP: at once); after %s, gateway keystore retire seals what they sealed meanwhile and drops the earlier keys\n",
		ca.ReloadInterval, retireAfter)
	return nil
}

// keystoreRetire seals again what is not under the current key, then
// drops the keys no held key uses.
func keystoreRetire(ctx context.Context, st storage.Store, kf ca.KEKFile, actor string, stdout io.Writer) error {
	fi, err := os.Stat(kf.Path)
	if err != nil {
		return err
	}
	if wait := time.Until(fi.ModTime().Add(retireAfter)); wait > 0 {
		return fmt.Errorf("%s changed %s ago: running gateways may still seal under an earlier key until they reload; retire in %s", kf.Path,
			time.Since(fi.ModTime()).Round(time.Second), wait.Round(time.Second))
	}
	keys, err := kf.LoadKeys(ctx)
	if err != nil {
		return err
	}
	sealer, err := ca.NewSealer(keys...)
	if err != nil {
		return err
	}
	n, err := reseal(ctx, st, sealer)
	if err != nil {
		return err
	}
	uses, err := sealedUnder(ctx, st)
	if err != nil {
		return err
	}
	audit := storage.AuditEvent{At: time.Now(), Actor: actor, Action: "keystore-retire"}
	inUse := func(id string) bool { return uses[id] > 0 || uses[""] > 0 } // an unnamed key could be any key's
	retired, err := kf.Retire(ctx, inUse, audit)
	if errs.Is(err, errs.Conflict) {
		return fmt.Errorf("another process changed the key-encryption keys meanwhile; nothing was retired: run again (%w)", err)
	}
	if err != nil {
		return err
	}
	if len(retired) > 0 && !kf.SharesKeys() {
		audit.Detail = fmt.Sprintf("keys %v", retired)
		if _, err := st.AppendAudit(ctx, audit); err != nil {
			return fmt.Errorf("keys %v retired, but not recorded in the audit trail: %w", retired, err)
		}
	}
	fmt.Fprintf(stdout, "%d held keys sealed again under %s; %d earlier keys retired %v\n", n, sealer.Current(), len(retired), retired)
	return nil
}

// reseal seals every held key that sealer's current key did not seal
// under it, and returns how many. A key that changed meanwhile (another
// rotation, a renewal) is left as it is.
func reseal(ctx context.Context, st storage.Store, sealer *ca.Sealer) (int, error) {
	n := 0
	err := eachSealedKey(ctx, st, func(k storage.SealedKey) error {
		if ca.SealedUnder(k.Sealed) == sealer.Current() {
			return nil
		}
		sealedFor := k.Serial
		if sealedFor == "" {
			sealedFor = upstream.SealID(k.Upstream)
		}
		pt, err := sealer.Open(sealedFor, k.Sealed)
		if err != nil {
			return err
		}
		sealed, err := sealer.Seal(sealedFor, pt)
		if err != nil {
			return err
		}
		switch err := st.ResealKey(ctx, k, sealed); {
		case errs.Is(err, errs.Conflict), errs.Is(err, errs.NotFound):
		case err != nil:
			return err
		default:
			n++
		}
		return nil
	})
	return n, err
}

// sealedUnder counts the held keys by the key that sealed them ("" for
// those sealed before keys were named).
func sealedUnder(ctx context.Context, st storage.Store) (map[string]int, error) {
	uses := map[string]int{}
	err := eachSealedKey(ctx, st, func(k storage.SealedKey) error {
		uses[ca.SealedUnder(k.Sealed)]++
		return nil
	})
	return uses, err
}

// eachSealedKey calls fn with every held key: upstream accounts', then
// certificates' by serial, a page at a time.
func eachSealedKey(ctx context.Context, st storage.Store, fn func(storage.SealedKey) error) error {
	ups, err := st.SealedUpstreamKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range ups {
		if err := fn(k); err != nil {
			return err
		}
	}
	const page = 500
	for after := ""; ; {
		keys, err := st.SealedCertificateKeys(ctx, after, page)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := fn(k); err != nil {
				return err
			}
		}
		if len(keys) < page {
			return nil
		}
		after = keys[len(keys)-1].Serial
	}
}
