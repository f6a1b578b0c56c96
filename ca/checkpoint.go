package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"log/slog"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/storage"
)

// The audit trail is the record of everything the gateway signed and
// every change an operator made; an auditor (WebTrust, ETSI) asks that it
// cannot be altered unnoticed, even by whoever can write to the database.
// A Checkpointer seals it now and then: a checkpoint chains a SHA-256
// hash over every event since the checkpoint before, in ID order, and is
// signed by the audit key, an ECDSA key in the token that never leaves
// it. VerifyAudit recomputes the chain and checks every signature with
// the key: an event changed, added or removed in a sealed stretch, a
// checkpoint changed or removed, or one signed by another key, is found
// out. What a thief with the database alone cannot do is seal a forged
// trail anew.

// CheckpointLag is how old an event must be to be sealed, so that a
// transaction still committing (a replica's event with a lower ID) is not
// skipped: a checkpoint seals a run of IDs with no gap.
const CheckpointLag = time.Minute

// maxSealed caps the events one checkpoint seals; a long trail sealed for
// the first time takes several.
const maxSealed = 100_000

// AuditKey returns the audit key labelled label in s, made (ECDSA P-256)
// when create is set and there is none; without create, a missing key is
// errs.NotFound.
func AuditKey(ctx context.Context, s signer.Signer, label string, create bool) (signer.Key, error) {
	key, err := s.Key(ctx, s.URI(label))
	if errs.Is(err, errs.NotFound) && create {
		key, err = s.Generate(ctx, label, signer.ECDSAP256)
		if errs.Is(err, errs.Conflict) { // another replica made it first
			key, err = s.Key(ctx, s.URI(label))
		}
	}
	if err != nil {
		return nil, err
	}
	if _, ok := key.Public().(*ecdsa.PublicKey); !ok {
		return nil, errs.New(errs.Config, "audit key %s is not an ECDSA key", key.URI())
	}
	return key, nil
}

// Checkpointer seals the audit trail (see above).
type Checkpointer struct {
	Store storage.AuditCheckpointStore
	Key   signer.Key // AuditKey
	Log   *slog.Logger
	Now   func() time.Time
}

// Seal makes one checkpoint of the events after the last one that are at
// least CheckpointLag old (at most maxSealed of them), and reports
// whether it made one: false when there was nothing to seal, or another
// replica sealed first.
func (c *Checkpointer) Seal(ctx context.Context) (storage.AuditCheckpoint, bool, error) {
	last, err := c.Store.LastAuditCheckpoint(ctx)
	if err != nil && !errs.Is(err, errs.NotFound) {
		return storage.AuditCheckpoint{}, false, err
	}
	now := c.Now()
	cutoff := now.Add(-CheckpointLag)
	chain := sha256.New()
	chain.Write(last.Hash)
	cp := storage.AuditCheckpoint{Seq: last.Seq + 1, LastID: last.LastID, KeyURI: c.Key.URI(), At: now.UTC().Truncate(time.Microsecond)}
	err = eachEventAfter(ctx, c.Store, last.LastID, func(e storage.AuditEvent) bool {
		if !e.At.Before(cutoff) || cp.Events == maxSealed {
			return false
		}
		chainEvent(chain, e)
		cp.LastID, cp.Events = e.ID, cp.Events+1
		return true
	})
	if err != nil || cp.Events == 0 {
		return storage.AuditCheckpoint{}, false, err
	}
	cp.Hash = chain.Sum(nil)
	digest := sha256.Sum256(CheckpointMessage(cp))
	if cp.Signature, err = c.Key.SignContext(ctx, digest[:], crypto.SHA256); err != nil {
		return storage.AuditCheckpoint{}, false, fmt.Errorf("sign audit checkpoint %d: %w", cp.Seq, err)
	}
	switch err := c.Store.InsertAuditCheckpoint(ctx, cp); {
	case errs.Is(err, errs.Conflict):
		return storage.AuditCheckpoint{}, false, nil
	case err != nil:
		return storage.AuditCheckpoint{}, false, err
	}
	c.Log.Info("audit trail sealed", "checkpoint", cp.Seq, "events", cp.Events, "last_event", cp.LastID)
	return cp, true, nil
}

// SealAll seals until nothing is left to seal and returns how many
// checkpoints it made.
func (c *Checkpointer) SealAll(ctx context.Context) (int, error) {
	n := 0
	for {
		cp, made, err := c.Seal(ctx)
		if err != nil || !made {
			return n, err
		}
		n++
		if cp.Events < maxSealed {
			return n, nil
		}
	}
}

// Watch seals every interval until ctx ends; a failure is logged and the
// next round tries again.
func (c *Checkpointer) Watch(ctx context.Context, interval time.Duration) {
	every(ctx, interval, nil, func() {
		if _, err := c.SealAll(ctx); err != nil && ctx.Err() == nil {
			c.Log.Error("seal the audit trail", "err", err)
		}
	})
}

// AuditReader is what VerifyAudit reads: the store.
type AuditReader interface {
	AuditEventsAfter(ctx context.Context, afterID int64, limit int) ([]storage.AuditEvent, error)
	ListAuditCheckpoints(ctx context.Context, afterSeq int64, limit int) ([]storage.AuditCheckpoint, error)
}

// AuditVerification is what VerifyAudit found.
type AuditVerification struct {
	Checkpoints int
	Sealed      int   // events sealed
	LastID      int64 // the last event sealed
	LastAt      time.Time
	Unsealed    int // events after it, not sealed yet
}

// VerifyAudit checks the audit trail against its checkpoints: each
// checkpoint follows the one before, is signed by pub (the audit key's),
// and its hash is the chain over the events it seals as the store has
// them now. The first discrepancy is an error saying which checkpoint and
// which events; a trail that passes is reported with what is sealed and
// what is not yet. The checkpoints are read first (one per
// checkpoint_every), then the events in one pass.
func VerifyAudit(ctx context.Context, st AuditReader, pub crypto.PublicKey) (AuditVerification, error) {
	var cps []storage.AuditCheckpoint
	if err := eachCheckpoint(ctx, st, func(cp storage.AuditCheckpoint) error { cps = append(cps, cp); return nil }); err != nil {
		return AuditVerification{}, err
	}
	sc, err := newSealChecker(pub, cps)
	if err != nil {
		return AuditVerification{}, err
	}
	var verr error
	err = eachEventAfter(ctx, st, 0, func(e storage.AuditEvent) bool {
		verr = sc.event(e)
		return verr == nil
	})
	if err == nil {
		err = verr
	}
	if err != nil {
		return sc.v, err
	}
	return sc.end()
}

// sealChecker follows the audit events in ID order through the
// checkpoints that seal them, checking each checkpoint as it comes to it
// (its sequence and signature) and as it leaves it (the chain over its
// events).
type sealChecker struct {
	key   *ecdsa.PublicKey
	cps   []storage.AuditCheckpoint // those still to come, Seq order
	cur   *storage.AuditCheckpoint  // the one sealing the events now read; nil past the last
	prev  storage.AuditCheckpoint   // the one before cur
	chain hash.Hash
	n     int // events chained for cur
	v     AuditVerification
}

func newSealChecker(pub crypto.PublicKey, cps []storage.AuditCheckpoint) (*sealChecker, error) {
	key, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return nil, errs.New(errs.Config, "the audit key is not an ECDSA key")
	}
	sc := &sealChecker{key: key, cps: cps}
	return sc, sc.open()
}

// open takes up the next checkpoint, if any.
func (sc *sealChecker) open() error {
	if len(sc.cps) == 0 {
		sc.cur = nil
		return nil
	}
	cp := sc.cps[0]
	sc.cps = sc.cps[1:]
	if cp.Seq != sc.prev.Seq+1 {
		return errs.New(errs.Conflict, "audit checkpoint %d is missing: checkpoint %d follows %d", sc.prev.Seq+1, cp.Seq, sc.prev.Seq)
	}
	digest := sha256.Sum256(CheckpointMessage(cp))
	if !ecdsa.VerifyASN1(sc.key, digest[:], cp.Signature) {
		return errs.New(errs.Conflict, "audit checkpoint %d (events %d to %d): its signature does not verify with the audit key: it was changed, or made with another key",
			cp.Seq, sc.prev.LastID+1, cp.LastID)
	}
	sc.cur, sc.n = &cp, 0
	sc.chain = sha256.New()
	sc.chain.Write(sc.prev.Hash)
	return nil
}

// close compares what cur sealed with the events read for it, and opens
// the next checkpoint.
func (sc *sealChecker) close() error {
	cp := *sc.cur
	if sc.n != cp.Events || !bytes.Equal(sc.chain.Sum(nil), cp.Hash) {
		return errs.New(errs.Conflict, "audit checkpoint %d (events %d to %d): the events do not match what was sealed: an event was changed, added or removed (%d events now, %d sealed)",
			cp.Seq, sc.prev.LastID+1, cp.LastID, sc.n, cp.Events)
	}
	sc.v.Checkpoints, sc.v.Sealed, sc.v.LastID, sc.v.LastAt = sc.v.Checkpoints+1, sc.v.Sealed+sc.n, cp.LastID, cp.At
	sc.prev = cp
	return sc.open()
}

// event takes the next event, in ID order.
func (sc *sealChecker) event(e storage.AuditEvent) error {
	for sc.cur != nil && e.ID > sc.cur.LastID {
		if err := sc.close(); err != nil {
			return err
		}
	}
	if sc.cur == nil {
		sc.v.Unsealed++
		return nil
	}
	chainEvent(sc.chain, e)
	sc.n++
	return nil
}

// end closes the checkpoints after the last event and reports.
func (sc *sealChecker) end() (AuditVerification, error) {
	for sc.cur != nil {
		if err := sc.close(); err != nil {
			return sc.v, err
		}
	}
	return sc.v, nil
}

// CheckpointMessage is what the audit key signs for cp (its SHA-256).
func CheckpointMessage(cp storage.AuditCheckpoint) []byte {
	b := []byte("certgw audit checkpoint v1\x00")
	b = binary.BigEndian.AppendUint64(b, uint64(cp.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(cp.LastID))
	b = binary.BigEndian.AppendUint64(b, uint64(cp.Events))
	b = binary.BigEndian.AppendUint64(b, uint64(cp.At.UnixMicro()))
	return append(b, cp.Hash...)
}

// chainEvent adds e's digest to the chain: its ID, time (microseconds)
// and every field, each field with its length, so that no two events
// encode alike.
func chainEvent(chain hash.Hash, e storage.AuditEvent) {
	d := sha256.New()
	var b []byte
	b = binary.BigEndian.AppendUint64(b, uint64(e.ID))
	b = binary.BigEndian.AppendUint64(b, uint64(e.At.UnixMicro()))
	d.Write(b)
	for _, f := range [][]byte{[]byte(e.Actor), []byte(e.Action), []byte(e.Profile), []byte(e.Serial), []byte(e.Detail), e.DER} {
		d.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f))))
		d.Write(f)
	}
	chain.Write(d.Sum(nil))
}

// eachEventAfter calls fn with the events after afterID in ID order until
// it returns false or none is left.
func eachEventAfter(ctx context.Context, st AuditReader, afterID int64, fn func(storage.AuditEvent) bool) error {
	for {
		events, err := st.AuditEventsAfter(ctx, afterID, storage.MaxAuditLimit)
		if err != nil {
			return err
		}
		for _, e := range events {
			if !fn(e) {
				return nil
			}
		}
		if len(events) < storage.MaxAuditLimit {
			return nil
		}
		afterID = events[len(events)-1].ID
	}
}

// eachCheckpoint calls fn with every checkpoint in Seq order until it
// returns an error, which eachCheckpoint returns.
func eachCheckpoint(ctx context.Context, st AuditReader, fn func(storage.AuditCheckpoint) error) error {
	for after := int64(0); ; {
		cps, err := st.ListAuditCheckpoints(ctx, after, storage.MaxAuditCheckpoints)
		if err != nil {
			return err
		}
		for _, cp := range cps {
			if err := fn(cp); err != nil {
				return err
			}
		}
		if len(cps) < storage.MaxAuditCheckpoints {
			return nil
		}
		after = cps[len(cps)-1].Seq
	}
}
