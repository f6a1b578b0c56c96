package storagetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// RunUpstream runs the conformance tests of storage.UpstreamStore. open
// must return a new, empty store each time it is called, closed when t
// ends (as for Run). That the account's audit event is committed with it,
// and only then, is checked by Run (AuditedChanges), which can read the
// trail.
func RunUpstream(t *testing.T, open func(t *testing.T) storage.UpstreamStore) {
	const dir = "https://acme.example/directory"
	account := func(upstream, directory, url string) storage.UpstreamAccount {
		return storage.UpstreamAccount{Upstream: upstream, Directory: directory, URL: url,
			KeyPEM: []byte("-----BEGIN SEALED KEY-----\n\x00\xffopaque\n-----END SEALED KEY-----\n"), CreatedAt: base}
	}
	norm := func(a storage.UpstreamAccount) storage.UpstreamAccount {
		a.CreatedAt = normTime(a.CreatedAt)
		return a
	}

	t.Run("AccountRoundTrip", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		a := account("le", dir, "https://acme.example/acct/1")
		must(t, "InsertUpstreamAccount", s.InsertUpstreamAccount(ctx, a, Event("upstream-account", "")))
		got, err := s.UpstreamAccount(ctx, "le", dir)
		must(t, "UpstreamAccount", err)
		if want := norm(a); !reflect.DeepEqual(got, want) {
			t.Errorf("UpstreamAccount() =\n%+v\nwant\n%+v", got, want)
		}
		checkUTC(t, "UpstreamAccount.CreatedAt", got.CreatedAt)
	})

	t.Run("AccountNotFound", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, "InsertUpstreamAccount", s.InsertUpstreamAccount(ctx, account("le", dir, "https://acme.example/acct/1"), Event("upstream-account", "")))
		for _, k := range []struct{ upstream, directory string }{
			{"other", dir},                         // another upstream
			{"le", "https://acme.example/staging"}, // another directory of the same upstream
			{"LE", dir},                            // case-sensitive
		} {
			_, err := s.UpstreamAccount(ctx, k.upstream, k.directory)
			wantKind(t, "UpstreamAccount("+k.upstream+", "+k.directory+")", err, errs.NotFound)
		}
	})

	// The key is the upstream and the directory: the same upstream may
	// have accounts at two directories, two upstreams at one.
	t.Run("AccountKey", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		accounts := []storage.UpstreamAccount{
			account("le", dir, "https://acme.example/acct/1"),
			account("le", "https://acme.example/staging", "https://acme.example/acct/2"),
			account("zerossl", dir, "https://acme.example/acct/3"),
		}
		for _, a := range accounts {
			must(t, "InsertUpstreamAccount", s.InsertUpstreamAccount(ctx, a, Event("upstream-account", "")))
		}
		for _, a := range accounts {
			got, err := s.UpstreamAccount(ctx, a.Upstream, a.Directory)
			must(t, "UpstreamAccount", err)
			if got.URL != a.URL {
				t.Errorf("UpstreamAccount(%s, %s).URL = %q, want %q", a.Upstream, a.Directory, got.URL, a.URL)
			}
		}
	})

	// Another replica registered first: the second insert fails and the
	// first account stays.
	t.Run("AccountConflict", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		first := account("le", dir, "https://acme.example/acct/1")
		must(t, "InsertUpstreamAccount", s.InsertUpstreamAccount(ctx, first, Event("upstream-account", "")))
		second := account("le", dir, "https://acme.example/acct/2")
		second.KeyPEM = []byte("another key")
		second.CreatedAt = base.Add(time.Hour)
		wantKind(t, "second InsertUpstreamAccount", s.InsertUpstreamAccount(ctx, second, Event("upstream-account", "")), errs.Conflict)
		got, err := s.UpstreamAccount(ctx, "le", dir)
		must(t, "UpstreamAccount", err)
		if want := norm(first); !reflect.DeepEqual(got, want) {
			t.Errorf("after the refused insert: %+v, want the first account %+v", got, want)
		}
	})

	t.Run("AccountMalformed", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		for name, change := range map[string]func(a *storage.UpstreamAccount){
			"no upstream":  func(a *storage.UpstreamAccount) { a.Upstream = "" },
			"no directory": func(a *storage.UpstreamAccount) { a.Directory = "" },
			"no URL":       func(a *storage.UpstreamAccount) { a.URL = "" },
			"no key":       func(a *storage.UpstreamAccount) { a.KeyPEM = nil },
			"empty key":    func(a *storage.UpstreamAccount) { a.KeyPEM = []byte{} },
		} {
			a := account("le", dir, "https://acme.example/acct/1")
			change(&a)
			wantKind(t, "InsertUpstreamAccount("+name+")", s.InsertUpstreamAccount(ctx, a, Event("upstream-account", "")), errs.Malformed)
		}
		_, err := s.UpstreamAccount(ctx, "le", dir)
		wantKind(t, "UpstreamAccount after refused inserts", err, errs.NotFound)
	})

	t.Run("HTTP01RoundTrip", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, "PutHTTP01", s.PutHTTP01(ctx, "tok-1", "tok-1.thumbprint", base.Add(time.Minute)))
		must(t, "PutHTTP01", s.PutHTTP01(ctx, "tok-2", "tok-2.thumbprint", base.Add(time.Minute)))
		for _, tok := range []string{"tok-1", "tok-2"} {
			got, err := s.HTTP01(ctx, tok, base)
			must(t, "HTTP01("+tok+")", err)
			if want := tok + ".thumbprint"; got != want {
				t.Errorf("HTTP01(%s) = %q, want %q", tok, got, want)
			}
		}
		_, err := s.HTTP01(ctx, "tok-3", base)
		wantKind(t, "HTTP01(unknown)", err, errs.NotFound)
		_, err = s.HTTP01(ctx, "TOK-1", base)
		wantKind(t, "HTTP01(other case)", err, errs.NotFound)
	})

	t.Run("HTTP01Replace", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, "PutHTTP01", s.PutHTTP01(ctx, "tok", "old", base.Add(time.Minute)))
		must(t, "PutHTTP01 again", s.PutHTTP01(ctx, "tok", "new", base.Add(time.Hour)))
		got, err := s.HTTP01(ctx, "tok", base.Add(30*time.Minute)) // past the first expiry
		must(t, "HTTP01", err)
		if got != "new" {
			t.Errorf("HTTP01() = %q after a replacement, want \"new\"", got)
		}
		// A replacement may also shorten the life of a token.
		must(t, "PutHTTP01 expired", s.PutHTTP01(ctx, "tok", "newer", base))
		_, err = s.HTTP01(ctx, "tok", base)
		wantKind(t, "HTTP01 after a replacement that expired", err, errs.NotFound)
	})

	t.Run("HTTP01Expiry", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		expires := base.Add(time.Minute)
		must(t, "PutHTTP01", s.PutHTTP01(ctx, "tok", "ka", expires))
		for _, tt := range []struct {
			name string
			now  time.Time
			live bool
		}{
			{"before", expires.Add(-time.Microsecond), true},
			{"at expiry", expires, false}, // expires_at <= now is expired
			{"after", expires.Add(time.Second), false},
		} {
			got, err := s.HTTP01(ctx, "tok", tt.now)
			if tt.live {
				if err != nil || got != "ka" {
					t.Errorf("HTTP01(%s) = %q, %v; want \"ka\"", tt.name, got, err)
				}
				continue
			}
			wantKind(t, "HTTP01("+tt.name+")", err, errs.NotFound)
		}
	})

	t.Run("HTTP01Delete", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, "PutHTTP01", s.PutHTTP01(ctx, "tok", "ka", base.Add(time.Minute)))
		must(t, "PutHTTP01", s.PutHTTP01(ctx, "other", "ka2", base.Add(time.Minute)))
		must(t, "DeleteHTTP01", s.DeleteHTTP01(ctx, "tok", base))
		_, err := s.HTTP01(ctx, "tok", base)
		wantKind(t, "HTTP01(deleted)", err, errs.NotFound)
		if got, err := s.HTTP01(ctx, "other", base); err != nil || got != "ka2" {
			t.Errorf("HTTP01(other) = %q, %v after deleting tok; want \"ka2\"", got, err)
		}
		must(t, "DeleteHTTP01(again)", s.DeleteHTTP01(ctx, "tok", base))
		must(t, "DeleteHTTP01(unknown)", s.DeleteHTTP01(ctx, "never", base))
	})

	// A deletion also removes the tokens that expired before now, so that
	// tokens whose deletion was lost (a replica that stopped mid-order) do
	// not pile up. Asked at an earlier time, when every token was live,
	// HTTP01 tells a swept token from a kept one.
	t.Run("HTTP01Sweep", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		now := base.Add(time.Hour)
		must(t, "PutHTTP01", s.PutHTTP01(ctx, "expired", "ka1", now.Add(-time.Second)))
		must(t, "PutHTTP01", s.PutHTTP01(ctx, "at-now", "ka2", now))
		must(t, "PutHTTP01", s.PutHTTP01(ctx, "live", "ka3", now.Add(time.Minute)))
		must(t, "PutHTTP01", s.PutHTTP01(ctx, "done", "ka4", now.Add(time.Minute)))
		must(t, "DeleteHTTP01(done)", s.DeleteHTTP01(ctx, "done", now))

		earlier := base
		_, err := s.HTTP01(ctx, "expired", earlier)
		wantKind(t, "HTTP01(expired before now, swept)", err, errs.NotFound)
		if got, err := s.HTTP01(ctx, "at-now", earlier); err != nil || got != "ka2" {
			t.Errorf("HTTP01(at-now) = %q, %v; want \"ka2\": a token that expires at now is not swept", got, err)
		}
		if got, err := s.HTTP01(ctx, "live", earlier); err != nil || got != "ka3" {
			t.Errorf("HTTP01(live) = %q, %v; want \"ka3\": a live token is not swept", got, err)
		}
		_, err = s.HTTP01(ctx, "done", earlier)
		wantKind(t, "HTTP01(deleted)", err, errs.NotFound)
	})

	t.Run("HTTP01Malformed", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		wantKind(t, "PutHTTP01(no token)", s.PutHTTP01(ctx, "", "ka", base.Add(time.Minute)), errs.Malformed)
		wantKind(t, "PutHTTP01(no key authorization)", s.PutHTTP01(ctx, "tok", "", base.Add(time.Minute)), errs.Malformed)
		_, err := s.HTTP01(ctx, "tok", base)
		wantKind(t, "HTTP01 after a refused put", err, errs.NotFound)
	})
}
