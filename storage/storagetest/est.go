package storagetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// RunEST runs the conformance tests of storage.ESTStore. open must return a
// new, empty store each time it is called, closed when t ends (as for Run).
func RunEST(t *testing.T, open func(t *testing.T) storage.ESTStore) {
	cred := func(profile, user, hash string) storage.ESTCredential {
		return storage.ESTCredential{Profile: profile, Username: user, Hash: hash, CreatedAt: base, UpdatedAt: base}
	}
	norm := func(c storage.ESTCredential) storage.ESTCredential {
		c.CreatedAt, c.UpdatedAt = normTime(c.CreatedAt), normTime(c.UpdatedAt)
		return c
	}

	t.Run("RoundTrip", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		c := cred("default", "dev-1", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")
		must(t, "InsertESTCredential", s.InsertESTCredential(ctx, c, Event("est-user-add", "")))
		got, err := s.GetESTCredential(ctx, "default", "dev-1")
		must(t, "GetESTCredential", err)
		if want := norm(c); !reflect.DeepEqual(got, want) {
			t.Errorf("GetESTCredential() =\n%+v\nwant\n%+v", got, want)
		}
		checkUTC(t, "ESTCredential.CreatedAt", got.CreatedAt)
		checkUTC(t, "ESTCredential.UpdatedAt", got.UpdatedAt)
	})

	t.Run("KeyIsProfileAndUser", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, "Insert a/u", s.InsertESTCredential(ctx, cred("a", "u", "h1"), Event("est-user-add", "")))
		must(t, "Insert b/u", s.InsertESTCredential(ctx, cred("b", "u", "h2"), Event("est-user-add", "")))
		must(t, "Insert a/U", s.InsertESTCredential(ctx, cred("a", "U", "h3"), Event("est-user-add", ""))) // case-sensitive
		wantKind(t, "Insert a/u again", s.InsertESTCredential(ctx, cred("a", "u", "h4"), Event("est-user-add", "")), errs.Conflict)
		for _, c := range []struct{ p, u, hash string }{{"a", "u", "h1"}, {"b", "u", "h2"}, {"a", "U", "h3"}} {
			got, err := s.GetESTCredential(ctx, c.p, c.u)
			must(t, "GetESTCredential", err)
			if got.Hash != c.hash {
				t.Errorf("GetESTCredential(%s, %s).Hash = %q, want %q (the failed insert must change nothing)", c.p, c.u, got.Hash, c.hash)
			}
		}
		_, err := s.GetESTCredential(ctx, "c", "u")
		wantKind(t, "GetESTCredential(other profile)", err, errs.NotFound)
	})

	t.Run("Update", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, "Insert", s.InsertESTCredential(ctx, cred("p", "u", "old"), Event("est-user-add", "")))
		later := base.Add(time.Hour)
		upd := storage.ESTCredential{Profile: "p", Username: "u", Hash: "new", CreatedAt: later.Add(time.Hour), UpdatedAt: later}
		must(t, "UpdateESTCredential", s.UpdateESTCredential(ctx, upd, Event("est-user-replace", "")))
		got, err := s.GetESTCredential(ctx, "p", "u")
		must(t, "GetESTCredential", err)
		want := norm(storage.ESTCredential{Profile: "p", Username: "u", Hash: "new", CreatedAt: base, UpdatedAt: later})
		if !reflect.DeepEqual(got, want) {
			t.Errorf("after update: %+v, want %+v (CreatedAt kept)", got, want)
		}
		wantKind(t, "UpdateESTCredential(missing)", s.UpdateESTCredential(ctx, cred("p", "nobody", "x"), Event("est-user-replace", "")), errs.NotFound)
	})

	t.Run("ListAndDelete", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		l, err := s.ListESTCredentials(ctx, "")
		must(t, "ListESTCredentials(empty store)", err)
		if l != nil {
			t.Errorf("ListESTCredentials(empty store) = %v, want nil", l)
		}
		for _, c := range []storage.ESTCredential{cred("b", "z", "1"), cred("a", "y", "2"), cred("b", "a", "3"), cred("a", "x", "4")} {
			must(t, "Insert", s.InsertESTCredential(ctx, c, Event("est-user-add", "")))
		}
		names := func(l []storage.ESTCredential) []string {
			var out []string
			for _, c := range l {
				out = append(out, c.Profile+"/"+c.Username)
			}
			return out
		}
		l, err = s.ListESTCredentials(ctx, "")
		must(t, "ListESTCredentials", err)
		if got, want := names(l), []string{"a/x", "a/y", "b/a", "b/z"}; !reflect.DeepEqual(got, want) {
			t.Errorf("ListESTCredentials(\"\") = %v, want %v", got, want)
		}
		l, err = s.ListESTCredentials(ctx, "b")
		must(t, "ListESTCredentials(b)", err)
		if got, want := names(l), []string{"b/a", "b/z"}; !reflect.DeepEqual(got, want) {
			t.Errorf("ListESTCredentials(b) = %v, want %v", got, want)
		}
		must(t, "DeleteESTCredential", s.DeleteESTCredential(ctx, "b", "a", Event("est-user-delete", "")))
		wantKind(t, "DeleteESTCredential(again)", s.DeleteESTCredential(ctx, "b", "a", Event("est-user-delete", "")), errs.NotFound)
		_, err = s.GetESTCredential(ctx, "b", "a")
		wantKind(t, "GetESTCredential(deleted)", err, errs.NotFound)
		l, _ = s.ListESTCredentials(ctx, "b")
		if got, want := names(l), []string{"b/z"}; !reflect.DeepEqual(got, want) {
			t.Errorf("after delete: %v, want %v", got, want)
		}
	})

	t.Run("Malformed", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		wantKind(t, "Insert(no profile)", s.InsertESTCredential(ctx, cred("", "u", "h"), Event("est-user-add", "")), errs.Malformed)
		wantKind(t, "Insert(no user)", s.InsertESTCredential(ctx, cred("p", "", "h"), Event("est-user-add", "")), errs.Malformed)
		wantKind(t, "Insert(no hash)", s.InsertESTCredential(ctx, cred("p", "u", ""), Event("est-user-add", "")), errs.Malformed)
		wantKind(t, "Update(no hash)", s.UpdateESTCredential(ctx, cred("p", "u", ""), Event("est-user-replace", "")), errs.Malformed)
		_, err := s.GetESTCredential(ctx, "", "u")
		wantKind(t, "Get(no profile)", err, errs.Malformed)
		wantKind(t, "Delete(no user)", s.DeleteESTCredential(ctx, "p", "", Event("est-user-delete", "")), errs.Malformed)
	})
}
