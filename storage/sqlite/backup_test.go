package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/storagetest"
)

// A backup taken while issuances are written holds a consistent snapshot:
// every certificate in it is complete (activated with its audit record, one
// commit) or pending without either, as it was at some instant; it passes
// integrity_check, it is one file of mode 0600, and a store opened on it
// serves what it holds.
func TestBackup(t *testing.T) {
	dir := t.TempDir()
	s := openTemp(t, filepath.Join(dir, "gateway.db"))
	ctx := t.Context()
	now := time.Now()
	if err := s.InsertCA(ctx, storage.CA{Name: "root", KeyURI: "k", CertDER: []byte{1}, CreatedAt: now}, storagetest.Event("init-ca", "")); err != nil {
		t.Fatal(err)
	}
	issue := func(i int) error {
		serial := fmt.Sprintf("%04x", i)
		c := storage.Certificate{Serial: serial, CA: "root", Profile: "p", Method: "api", Requester: "r", NotBefore: now, NotAfter: now.Add(time.Hour), CreatedAt: now}
		if err := s.InsertPendingCertificate(ctx, c); err != nil {
			return err
		}
		_, err := s.CompleteIssuance(ctx, storage.AuditEvent{At: now, Action: "issue", Serial: serial, DER: []byte{0x30, 1}}, serial, []byte{0x30, 1}, now, now.Add(time.Hour))
		return err
	}
	for i := range 50 {
		if err := issue(i); err != nil {
			t.Fatal(err)
		}
	}

	// Issuances go on during the backup.
	var (
		wg      sync.WaitGroup
		stop    atomic.Bool
		next    atomic.Int64
		writeMu sync.Mutex
		werr    error
	)
	next.Store(50)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				if err := issue(int(next.Add(1))); err != nil {
					writeMu.Lock()
					werr = err
					writeMu.Unlock()
					return
				}
			}
		})
	}
	out := filepath.Join(dir, "backups", "gateway-backup.db")
	if err := os.Mkdir(filepath.Dir(out), 0o700); err != nil {
		t.Fatal(err)
	}
	info, err := s.Backup(ctx, out)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup() = %v", err)
	}
	if werr != nil {
		t.Fatalf("an issuance during the backup: %v", werr)
	}
	if info.Certificates < 50 || info.Schema != wantVersions(t)[len(wantVersions(t))-1] || info.Path != out {
		t.Errorf("Backup() = %+v, want at least 50 certificates and schema %d", info, wantVersions(t)[len(wantVersions(t))-1])
	}
	st, err := os.Stat(out)
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() != info.Bytes {
		t.Fatalf("backup file: %v, %v; want mode 0600 and %d bytes", st, err, info.Bytes)
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 1 {
		t.Errorf("the backup's directory holds %d files, want the backup alone (no -wal or -shm)", len(entries))
	}

	// Restored as the README says (copied to where the store is opened):
	// the store serves what the copy holds.
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	restoredPath := filepath.Join(dir, "restored", "gateway.db")
	if err := os.MkdirAll(filepath.Dir(restoredPath), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(restoredPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	restored := openTemp(t, restoredPath)
	certs, _, err := restored.ListCertificates(ctx, storage.CertificateFilter{Limit: storage.MaxCertificateLimit})
	if err != nil || len(certs) != info.Certificates {
		t.Fatalf("restored store lists %d certificates, %v; want %d", len(certs), err, info.Certificates)
	}
	for _, c := range certs {
		trail, err := restored.ListAudit(ctx, storage.AuditFilter{Serial: c.Serial})
		complete := c.Status == storage.StatusActive && len(trail) == 1 && len(c.DER) > 0
		pending := c.Status == storage.StatusPending && len(trail) == 0
		if err != nil || !complete && !pending {
			t.Fatalf("restored certificate %s: %s with %d audit records (%v); want active with its issuance record, or pending without", c.Serial, c.Status, len(trail), err)
		}
	}
	if _, err := restored.GetCA(ctx, "root"); err != nil {
		t.Errorf("restored CA: %v", err)
	}

	// A backup never overwrites a file.
	if _, err := s.Backup(ctx, out); !errs.Is(err, errs.Conflict) {
		t.Errorf("Backup() onto an existing file = %v, want a conflict", err)
	}
	if st2, _ := os.Stat(out); st2.Size() != st.Size() || !st2.ModTime().Equal(st.ModTime()) {
		t.Error("the refused backup changed the existing file")
	}
	// A directory that does not exist: refused, and nothing is left.
	missing := filepath.Join(dir, "nowhere", "b.db")
	if _, err := s.Backup(ctx, missing); err == nil {
		t.Error("Backup() into a missing directory succeeded")
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed backup left %s: %v", missing, err)
	}
}
