package ca

import (
	"bufio"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"sort"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// An export of the audit trail is what an auditor takes away and checks
// where neither the database nor the token is: newline-delimited JSON,
// the audit key's public key first, then every checkpoint, then every
// event, in order. VerifyAuditExport checks it as VerifyAudit checks the
// store; pinning the public key the auditor got from the operator (not
// the one in the file) is what makes the check mean something.

// exportLine is one line of an export: exactly one field is set.
type exportLine struct {
	PublicKey  string                   `json:"public_key,omitempty"` // PEM
	Checkpoint *storage.AuditCheckpoint `json:"checkpoint,omitempty"`
	Event      *storage.AuditEvent      `json:"event,omitempty"`
}

// ExportAudit writes the audit trail of st, with its checkpoints and the
// audit key's public key, to w.
func ExportAudit(ctx context.Context, st AuditReader, pub crypto.PublicKey, w io.Writer) (events, checkpoints int, err error) {
	enc := json.NewEncoder(w)
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return 0, 0, errs.Wrap(errs.Internal, err, "audit key")
	}
	if err := enc.Encode(exportLine{PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}); err != nil {
		return 0, 0, err
	}
	err = eachCheckpoint(ctx, st, func(cp storage.AuditCheckpoint) error {
		if err := enc.Encode(exportLine{Checkpoint: &cp}); err != nil {
			return err
		}
		checkpoints++
		return nil
	})
	if err != nil {
		return events, checkpoints, err
	}
	err = eachEventAfter(ctx, st, 0, func(e storage.AuditEvent) bool {
		if err = enc.Encode(exportLine{Event: &e}); err != nil {
			return false
		}
		events++
		return true
	})
	return events, checkpoints, err
}

// VerifyAuditExport checks an export (ExportAudit) as VerifyAudit checks
// the store, reading it once, line by line: it keeps the checkpoints and
// the hash of the stretch at hand, not the events, so an export of any
// size verifies in little memory. The events must come in ID order, as
// ExportAudit writes them. pinned is the audit key's public key as the
// auditor got it from the operator; nil takes the one the export names
// (used says which was taken), which proves only that the export is
// consistent with itself.
func VerifyAuditExport(r io.Reader, pinned crypto.PublicKey) (v AuditVerification, used crypto.PublicKey, err error) {
	used = pinned
	var cps []storage.AuditCheckpoint
	var sc *sealChecker
	lastID := int64(-1)
	lines := bufio.NewScanner(r)
	lines.Buffer(make([]byte, 64<<10), 64<<20)
	for n := 1; lines.Scan(); n++ {
		var l exportLine
		if err := json.Unmarshal(lines.Bytes(), &l); err != nil {
			return v, used, errs.Wrap(errs.Malformed, err, "audit export line %d", n)
		}
		switch {
		case l.PublicKey != "":
			b, _ := pem.Decode([]byte(l.PublicKey))
			if b == nil {
				return v, used, errs.New(errs.Malformed, "audit export line %d: the public key is not PEM", n)
			}
			pub, err := x509.ParsePKIXPublicKey(b.Bytes)
			if err != nil {
				return v, used, errs.Wrap(errs.Malformed, err, "audit export line %d: public key", n)
			}
			if used == nil {
				used = pub
			}
		case l.Checkpoint != nil:
			if sc != nil {
				return v, used, errs.New(errs.Malformed, "audit export line %d: a checkpoint after the events; checkpoints come first", n)
			}
			cps = append(cps, *l.Checkpoint)
		case l.Event != nil:
			if l.Event.ID < lastID {
				return v, used, errs.New(errs.Malformed, "audit export line %d: event %d after event %d; events come in ID order", n, l.Event.ID, lastID)
			}
			lastID = l.Event.ID
			if sc == nil {
				if sc, err = startExportCheck(used, cps); err != nil {
					return v, used, err
				}
			}
			if err := sc.event(*l.Event); err != nil {
				return sc.v, used, err
			}
		default:
			return v, used, errs.New(errs.Malformed, "audit export line %d holds no key, checkpoint or event", n)
		}
	}
	if err := lines.Err(); err != nil {
		return v, used, errs.Wrap(errs.Malformed, err, "audit export")
	}
	if sc == nil {
		if sc, err = startExportCheck(used, cps); err != nil {
			return v, used, err
		}
	}
	v, err = sc.end()
	return v, used, err
}

// startExportCheck begins checking an export's events under cps, sorted
// by Seq, with pub.
func startExportCheck(pub crypto.PublicKey, cps []storage.AuditCheckpoint) (*sealChecker, error) {
	if pub == nil {
		return nil, errs.New(errs.Malformed, "the audit export names no public key: give the audit key's")
	}
	sort.SliceStable(cps, func(i, j int) bool { return cps[i].Seq < cps[j].Seq })
	return newSealChecker(pub, cps)
}
