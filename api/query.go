package api

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
)

// query reads the query parameters of a route. Like unknown JSON fields, a
// parameter the route does not know, or one given twice, is refused: a typo
// in a filter must not silently widen a listing.
type query struct {
	v url.Values
}

func parseQuery(r *http.Request, known ...string) (query, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return query{}, errs.Wrap(errs.Malformed, err, "query string")
	}
	for name, vals := range v {
		if !slices.Contains(known, name) {
			return query{}, errs.New(errs.Malformed, "unknown query parameter %q (known: %s)", name, strings.Join(known, ", "))
		}
		if len(vals) > 1 {
			return query{}, errs.New(errs.Malformed, "query parameter %q is given %d times", name, len(vals))
		}
	}
	return query{v: v}, nil
}

func (q query) str(name string) string { return q.v.Get(name) }

// time reads an RFC 3339 timestamp; absent is the zero time.
func (q query) time(name string) (time.Time, error) {
	s := q.v.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errs.New(errs.Malformed, "query parameter %s: %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", name, s)
	}
	return t.UTC(), nil
}

// limit reads a positive page size; absent is 0, the store's default. The
// store caps it (storage.MaxCertificateLimit, storage.MaxAuditLimit).
func (q query) limit() (int, error) {
	s := q.v.Get("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, errs.New(errs.Malformed, "query parameter limit: %q is not a positive integer", s)
	}
	return n, nil
}

// duration reads a duration as the configuration writes them ("90s",
// "2h", "7d"); absent is def.
func (q query) duration(name string, def time.Duration) (time.Duration, error) {
	s := q.v.Get(name)
	if s == "" {
		return def, nil
	}
	d, err := config.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errs.New(errs.Malformed, "query parameter %s: %q is not a duration such as 90s, 5m or 1d", name, s)
	}
	return d.D(), nil
}
