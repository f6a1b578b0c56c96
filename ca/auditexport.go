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
// event, in order. VerifyAudit runs on it (ReadAuditExport) as on the
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

// AuditExport is an export read back: an AuditReader for VerifyAudit,
// and the public key it names.
type AuditExport struct {
	PublicKey   crypto.PublicKey
	events      []storage.AuditEvent
	checkpoints []storage.AuditCheckpoint
}

// ReadAuditExport reads an export (ExportAudit), whole, into memory.
func ReadAuditExport(r io.Reader) (*AuditExport, error) {
	x := &AuditExport{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		var l exportLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, errs.Wrap(errs.Malformed, err, "audit export line %d", n)
		}
		switch {
		case l.PublicKey != "":
			b, _ := pem.Decode([]byte(l.PublicKey))
			if b == nil {
				return nil, errs.New(errs.Malformed, "audit export line %d: the public key is not PEM", n)
			}
			pub, err := x509.ParsePKIXPublicKey(b.Bytes)
			if err != nil {
				return nil, errs.Wrap(errs.Malformed, err, "audit export line %d: public key", n)
			}
			x.PublicKey = pub
		case l.Checkpoint != nil:
			x.checkpoints = append(x.checkpoints, *l.Checkpoint)
		case l.Event != nil:
			x.events = append(x.events, *l.Event)
		default:
			return nil, errs.New(errs.Malformed, "audit export line %d holds no key, checkpoint or event", n)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, errs.Wrap(errs.Malformed, err, "audit export")
	}
	sort.SliceStable(x.events, func(i, j int) bool { return x.events[i].ID < x.events[j].ID })
	sort.SliceStable(x.checkpoints, func(i, j int) bool { return x.checkpoints[i].Seq < x.checkpoints[j].Seq })
	return x, nil
}

// AuditEventsAfter implements AuditReader.
func (x *AuditExport) AuditEventsAfter(_ context.Context, afterID int64, limit int) ([]storage.AuditEvent, error) {
	i := sort.Search(len(x.events), func(i int) bool { return x.events[i].ID > afterID })
	return x.events[i:min(len(x.events), i+limit)], nil
}

// ListAuditCheckpoints implements AuditReader.
func (x *AuditExport) ListAuditCheckpoints(_ context.Context, afterSeq int64, limit int) ([]storage.AuditCheckpoint, error) {
	i := sort.Search(len(x.checkpoints), func(i int) bool { return x.checkpoints[i].Seq > afterSeq })
	return x.checkpoints[i:min(len(x.checkpoints), i+limit)], nil
}
