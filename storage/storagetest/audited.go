package storagetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// testAuditedChanges pins down the changes that take their audit event:
// the store commits the event with the change, exactly as given, and a
// refused change appends nothing. (Revocation, release from hold and the
// auto-renew switch have their own tests of the same.)
func testAuditedChanges(t *testing.T, open func(t *testing.T) storage.Store) {
	type change func(ctx context.Context, s storage.Store, audit storage.AuditEvent) error
	insertCA := func(ca storage.CA) change {
		return func(ctx context.Context, s storage.Store, audit storage.AuditEvent) error {
			return s.InsertCA(ctx, ca, audit)
		}
	}
	insertToken := func(tok storage.Token) change {
		return func(ctx context.Context, s storage.Store, audit storage.AuditEvent) error {
			return s.InsertToken(ctx, tok, audit)
		}
	}
	deleteToken := func(id string) change {
		return func(ctx context.Context, s storage.Store, audit storage.AuditEvent) error {
			return s.DeleteToken(ctx, id, audit)
		}
	}
	cred := func(user, hash string) storage.ESTCredential {
		return storage.ESTCredential{Profile: "default", Username: user, Hash: hash, CreatedAt: base, UpdatedAt: base}
	}
	insertCred := func(c storage.ESTCredential) change {
		return func(ctx context.Context, s storage.Store, audit storage.AuditEvent) error {
			return s.InsertESTCredential(ctx, c, audit)
		}
	}
	updateCred := func(c storage.ESTCredential) change {
		return func(ctx context.Context, s storage.Store, audit storage.AuditEvent) error {
			return s.UpdateESTCredential(ctx, c, audit)
		}
	}
	deleteCred := func(user string) change {
		return func(ctx context.Context, s storage.Store, audit storage.AuditEvent) error {
			return s.DeleteESTCredential(ctx, "default", user, audit)
		}
	}
	insertEAB := func(kid string) change {
		return func(ctx context.Context, s storage.Store, audit storage.AuditEvent) error {
			return s.InsertACMEEABKey(ctx, storage.ACMEEABKey{KeyID: kid, Profile: "default", HMACKey: []byte("mac"), CreatedAt: base}, audit)
		}
	}
	insertUpstreamAccount := func(url string) change {
		return func(ctx context.Context, s storage.Store, audit storage.AuditEvent) error {
			return s.InsertUpstreamAccount(ctx, storage.UpstreamAccount{Upstream: "le", Directory: "https://acme.example/directory",
				URL: url, KeyPEM: []byte("sealed key"), CreatedAt: base}, audit)
		}
	}
	insertSCEPChallenge := func(profile string, hash []byte) change {
		return func(ctx context.Context, s storage.Store, audit storage.AuditEvent) error {
			return s.InsertSCEPChallenge(ctx, storage.SCEPChallenge{Profile: profile, Hash: hash,
				Expires: base.Add(time.Hour), CreatedAt: base}, audit)
		}
	}
	insertSharedKEK := func(wrapped string) change {
		return func(ctx context.Context, s storage.Store, audit storage.AuditEvent) error {
			return s.InsertSharedKEK(ctx, wrapped, audit)
		}
	}
	updateSharedKEK := func(old, wrapped string) change {
		return func(ctx context.Context, s storage.Store, audit storage.AuditEvent) error {
			if err := s.UpdateSharedKEK(ctx, old, wrapped, audit); err != nil {
				return err
			}
			if got, err := s.SharedKEK(ctx); err != nil || got != wrapped {
				return fmt.Errorf("SharedKEK after the update: %q, %v", got, err)
			}
			return nil
		}
	}
	insertRequest := func(n int, csr byte, change func(r *storage.Request)) change {
		return func(ctx context.Context, s storage.Store, audit storage.AuditEvent) error {
			r := enrollment(n, "default", csr, base)
			if change != nil {
				change(&r)
			}
			return s.InsertRequest(ctx, r, audit)
		}
	}
	decideRequest := func(n int, status string) change {
		return func(ctx context.Context, s storage.Store, audit storage.AuditEvent) error {
			return s.DecideRequest(ctx, requestID(n), status, "operator", "checked", base.Add(time.Hour), audit)
		}
	}
	replaceCert := func(old, der []byte) change {
		return func(ctx context.Context, s storage.Store, audit storage.AuditEvent) error {
			return s.ReplaceCACertificate(ctx, "root", old, der, nil, audit)
		}
	}
	orphan := rootCA("orphan", base)
	orphan.Parent = "missing"

	tests := []struct {
		name   string
		before []change // applied first, each with its own event
		change change
		want   errs.Kind // -1: success
	}{
		{"InsertCA", nil, insertCA(rootCA("root", base)), -1},
		{"InsertCA taken", []change{insertCA(rootCA("root", base))}, insertCA(rootCA("root", base)), errs.Conflict},
		{"InsertCA no parent", nil, insertCA(orphan), errs.NotFound},
		{"ReplaceCACertificate", []change{insertCA(rootCA("root", base))}, replaceCert(testDER(1), testDER(3)), -1},
		{"ReplaceCACertificate stale", []change{insertCA(rootCA("root", base))}, replaceCert(testDER(2), testDER(3)), errs.Conflict},
		{"ReplaceCACertificate unknown", nil, replaceCert(testDER(1), testDER(3)), errs.NotFound},
		{"ReplaceCACertificate empty", []change{insertCA(rootCA("root", base))}, replaceCert(testDER(1), nil), errs.Malformed},
		{"InsertToken", nil, insertToken(token("t1", "secret-1")), -1},
		{"InsertToken taken", []change{insertToken(token("t1", "secret-1"))}, insertToken(token("t1", "secret-2")), errs.Conflict},
		{"DeleteToken", []change{insertToken(token("t1", "secret-1"))}, deleteToken("t1"), -1},
		{"DeleteToken unknown", nil, deleteToken("t1"), errs.NotFound},
		{"InsertESTCredential", nil, insertCred(cred("dev", "h1")), -1},
		{"InsertESTCredential taken", []change{insertCred(cred("dev", "h1"))}, insertCred(cred("dev", "h2")), errs.Conflict},
		{"InsertESTCredential no hash", nil, insertCred(cred("dev", "")), errs.Malformed},
		{"UpdateESTCredential", []change{insertCred(cred("dev", "h1"))}, updateCred(cred("dev", "h2")), -1},
		{"UpdateESTCredential unknown", nil, updateCred(cred("dev", "h2")), errs.NotFound},
		{"DeleteESTCredential", []change{insertCred(cred("dev", "h1"))}, deleteCred("dev"), -1},
		{"DeleteESTCredential unknown", nil, deleteCred("dev"), errs.NotFound},
		{"InsertACMEEABKey", nil, insertEAB("kid1"), -1},
		{"InsertACMEEABKey taken", []change{insertEAB("kid1")}, insertEAB("kid1"), errs.Conflict},
		{"InsertUpstreamAccount", nil, insertUpstreamAccount("https://acme.example/acct/1"), -1},
		{"InsertUpstreamAccount taken", []change{insertUpstreamAccount("https://acme.example/acct/1")}, insertUpstreamAccount("https://acme.example/acct/2"), errs.Conflict},
		{"InsertUpstreamAccount no URL", nil, insertUpstreamAccount(""), errs.Malformed},
		{"InsertSCEPChallenge", nil, insertSCEPChallenge("default", scepHash("c1")), -1},
		{"InsertSCEPChallenge taken", []change{insertSCEPChallenge("default", scepHash("c1"))}, insertSCEPChallenge("other", scepHash("c1")), errs.Conflict},
		{"InsertSCEPChallenge no profile", nil, insertSCEPChallenge("", scepHash("c1")), errs.Malformed},
		{"InsertSCEPChallenge short hash", nil, insertSCEPChallenge("default", scepHash("c1")[:31]), errs.Malformed},
		{"InsertRequest", nil, insertRequest(1, 1, nil), -1},
		{"InsertRequest taken", []change{insertRequest(1, 1, nil), decideRequest(1, storage.RequestRejected)}, insertRequest(1, 2, nil), errs.Conflict},
		{"InsertRequest live CSR", []change{insertRequest(1, 1, nil)}, insertRequest(2, 1, nil), errs.Conflict},
		{"InsertRequest no CSR", nil, insertRequest(1, 1, func(r *storage.Request) { r.CSR = nil }), errs.Malformed},
		{"DecideRequest", []change{insertRequest(1, 1, nil)}, decideRequest(1, storage.RequestApproved), -1},
		{"DecideRequest decided", []change{insertRequest(1, 1, nil), decideRequest(1, storage.RequestRejected)}, decideRequest(1, storage.RequestApproved), errs.Conflict},
		{"DecideRequest unknown", nil, decideRequest(1, storage.RequestApproved), errs.NotFound},
		{"DecideRequest bad status", []change{insertRequest(1, 1, nil)}, decideRequest(1, storage.RequestIssued), errs.Malformed},
		{"InsertSharedKEK", nil, insertSharedKEK("pkcs11-aes-gcm:kek:01"), -1},
		{"InsertSharedKEK taken", []change{insertSharedKEK("pkcs11-aes-gcm:kek:01")}, insertSharedKEK("pkcs11-aes-gcm:kek:02"), errs.Conflict},
		{"InsertSharedKEK empty", nil, insertSharedKEK(""), errs.Malformed},
		{"UpdateSharedKEK", []change{insertSharedKEK("pkcs11-aes-gcm:kek:01")}, updateSharedKEK("pkcs11-aes-gcm:kek:01", "pkcs11-aes-gcm:kek:02\npkcs11-aes-gcm:kek:01"), -1},
		{"UpdateSharedKEK changed meanwhile", []change{insertSharedKEK("pkcs11-aes-gcm:kek:01")}, updateSharedKEK("pkcs11-aes-gcm:kek:00", "pkcs11-aes-gcm:kek:02"), errs.Conflict},
		{"UpdateSharedKEK none", nil, updateSharedKEK("pkcs11-aes-gcm:kek:01", "pkcs11-aes-gcm:kek:02"), errs.NotFound},
		{"UpdateSharedKEK empty", []change{insertSharedKEK("pkcs11-aes-gcm:kek:01")}, updateSharedKEK("pkcs11-aes-gcm:kek:01", ""), errs.Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ctx := open(t), t.Context()
			for i, c := range tt.before {
				must(t, fmt.Sprintf("change %d before", i), c(ctx, s, Event(fmt.Sprintf("before-%d", i), "")))
			}
			before := trail(t, s)
			event := Event("audited", "")
			event.Profile, event.Detail, event.DER = "default", tt.name, testDER(7)
			err := tt.change(ctx, s, event)
			after := trail(t, s)
			if tt.want != -1 {
				wantKind(t, tt.name, err, tt.want)
				if len(after) != len(before) {
					t.Errorf("a refused change appended %d audit events", len(after)-len(before))
				}
				return
			}
			must(t, tt.name, err)
			if len(after) != len(before)+1 {
				t.Fatalf("audit events: %d before, %d after the change; want one more", len(before), len(after))
			}
			event.ID = after[0].ID
			if !reflect.DeepEqual(after[0], event) {
				t.Errorf("audit event = %+v, want %+v", after[0], event)
			}
		})
	}
}

// trail is the whole audit trail of s, newest first.
func trail(t *testing.T, s storage.Store) []storage.AuditEvent {
	t.Helper()
	events, err := s.ListAudit(t.Context(), storage.AuditFilter{Limit: storage.MaxAuditLimit})
	must(t, "ListAudit", err)
	return events
}
