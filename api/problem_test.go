package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/api"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// failingStore fails ListAudit with err.
type failingStore struct {
	storage.Store
	err error
}

func (s failingStore) ListAudit(context.Context, storage.AuditFilter) ([]storage.AuditEvent, error) {
	return nil, s.err
}

// Faults of ours are 5xx problems that say nothing about the cause; the
// cause goes to the log.
func TestServerFaults(t *testing.T) {
	e := newEnv(t, teststore.SQLite(t))
	const secret = "host=db.internal password=hunter2"
	for _, tt := range []struct {
		err    error
		status int
		kind   string
	}{
		{errs.Wrap(errs.Internal, errors.New(secret), "list audit"), 500, "internal"},
		{errors.New(secret), 500, "internal"},
		{errs.Wrap(errs.Config, errors.New(secret), "list audit"), 500, "internal"},
		{errs.Wrap(errs.Unavailable, errors.New(secret), "list audit"), 503, "unavailable"},
	} {
		a := api.New(api.Config{Core: e.core, Store: failingStore{e.store, tt.err}, Log: nil, Now: e.clock.Now})
		r := chi.NewRouter()
		a.Routes(r)
		srv := httptest.NewServer(r)
		e.srv = srv
		resp := e.do("GET", "/api/v1/audit", admin, nil)
		srv.Close()
		p := resp.problem(t, tt.status, tt.kind)
		if strings.Contains(string(resp.body), "hunter2") || strings.Contains(string(resp.body), "db.internal") || p.Detail == "" {
			t.Errorf("%v: the problem shows the cause or nothing: %s", tt.err, resp.body)
		}
	}

	// With a logger, the cause is logged at error level.
	a := api.New(api.Config{Core: e.core, Store: failingStore{e.store, errs.Wrap(errs.Internal, errors.New(secret), "list audit")}, Log: logger(e.logs), Now: e.clock.Now})
	r := chi.NewRouter()
	a.Routes(r)
	e.srv = httptest.NewServer(r)
	defer e.srv.Close()
	e.do("GET", "/api/v1/audit", admin, nil).problem(t, http.StatusInternalServerError, "internal")
	if l := e.logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "hunter2") {
		t.Errorf("the cause is not logged at error level:\n%s", l)
	}
}
