package storagetest

import (
	"crypto/sha256"
	"reflect"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

func token(id, secret string) storage.Token {
	h := sha256.Sum256([]byte(secret))
	return storage.Token{
		ID:        id,
		Name:      "token " + id,
		Hash:      h[:],
		Scopes:    []string{"certificates:read", "certificates:issue", "audit:read"},
		CreatedAt: base,
	}
}

func normToken(tok storage.Token) storage.Token {
	tok.CreatedAt = normTime(tok.CreatedAt)
	if !tok.ExpiresAt.IsZero() {
		tok.ExpiresAt = normTime(tok.ExpiresAt)
	}
	return tok
}

func testToken(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("RoundTrip", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		noScopes := token("t2", "secret-2")
		noScopes.Scopes = nil
		limited := token("t3", "secret-3") // to some profiles
		limited.Profiles = []string{"web", "device"}
		expiring := token("t4", "secret-4")
		expiring.ExpiresAt = base.Add(90 * 24 * time.Hour) // not UTC, with nanoseconds
		for _, tok := range []storage.Token{token("t1", "secret-1"), noScopes, limited, expiring} {
			must(t, "InsertToken", s.InsertToken(ctx, tok, Event("token-create", "")))
			got, err := s.TokenByHash(ctx, tok.Hash)
			must(t, "TokenByHash", err)
			if want := normToken(tok); !reflect.DeepEqual(got, want) {
				t.Errorf("TokenByHash() =\n%+v\nwant\n%+v", got, want)
			}
			checkUTC(t, "Token.CreatedAt", got.CreatedAt)
		}
	})

	t.Run("DuplicateID", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, "InsertToken", s.InsertToken(ctx, token("t1", "secret-1"), Event("token-create", "")))
		wantKind(t, "InsertToken(same ID)", s.InsertToken(ctx, token("t1", "secret-2"), Event("token-create", "")), errs.Conflict)
	})

	t.Run("DuplicateHash", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, "InsertToken", s.InsertToken(ctx, token("t1", "secret-1"), Event("token-create", "")))
		wantKind(t, "InsertToken(same hash)", s.InsertToken(ctx, token("t2", "secret-1"), Event("token-create", "")), errs.Conflict)
	})

	t.Run("NotFound", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, "InsertToken", s.InsertToken(ctx, token("t1", "secret-1"), Event("token-create", "")))
		_, err := s.TokenByHash(ctx, token("t2", "secret-2").Hash)
		wantKind(t, "TokenByHash", err, errs.NotFound)
	})
	t.Run("ListAndDelete", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		if got, err := s.ListTokens(ctx); err != nil || len(got) != 0 {
			t.Fatalf("ListTokens() of an empty store = %v, %v", got, err)
		}
		older, newer, sameTime := token("t2", "secret-2"), token("t1", "secret-1"), token("t3", "secret-3")
		newer.CreatedAt = base.Add(time.Minute)
		sameTime.CreatedAt = base // ties go by ID
		for _, tok := range []storage.Token{newer, sameTime, older} {
			must(t, "InsertToken", s.InsertToken(ctx, tok, Event("token-create", "")))
		}
		got, err := s.ListTokens(ctx)
		must(t, "ListTokens", err)
		if want := []storage.Token{normToken(older), normToken(sameTime), normToken(newer)}; !reflect.DeepEqual(got, want) {
			t.Errorf("ListTokens() =\n%+v\nwant\n%+v", got, want)
		}
		must(t, "DeleteToken(t2)", s.DeleteToken(ctx, "t2", Event("token-revoke", "")))
		_, err = s.TokenByHash(ctx, older.Hash)
		wantKind(t, "TokenByHash(deleted)", err, errs.NotFound)
		wantKind(t, "DeleteToken(t2) again", s.DeleteToken(ctx, "t2", Event("token-revoke", "")), errs.NotFound)
		if got, err := s.ListTokens(ctx); err != nil || len(got) != 2 {
			t.Errorf("ListTokens() after a delete = %d tokens, %v; want 2", len(got), err)
		}
	})
}
