package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAuditSealed(t *testing.T) {
	var at time.Time
	var fail error
	m := New()
	m.WatchAuditSeal(func(context.Context) (time.Time, error) { return at, fail })
	if out := scrape(t, m); !strings.Contains(out, "gateway_audit_sealed_timestamp_seconds 0") {
		t.Errorf("before any seal:\n%s", out)
	}
	at = time.Unix(1_800_000_000, 0)
	if out := scrape(t, m); !strings.Contains(out, "gateway_audit_sealed_timestamp_seconds 1.8e+09") {
		t.Errorf("after a seal:\n%s", out)
	}
	fail = errors.New("store down")
	if out := scrape(t, m); strings.Contains(out, "gateway_audit_sealed_timestamp_seconds ") {
		t.Errorf("while the store fails the series should be absent:\n%s", out)
	}
}
