package api

import (
	"context"
	"maps"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/storage"
)

// A token limited to profiles sees the CAs and upstreams its profiles
// issue from, with the CAs above them; an unlimited one sees all.
func TestVisibleCAs(t *testing.T) {
	a := &API{core: &ca.Core{Profiles: map[string]*ca.Profile{
		"web":    {Name: "web", CA: "web-issuing"},
		"device": {Name: "device", CA: "device-issuing"},
		"public": {Name: "public", Upstream: "letsencrypt"},
	}}}
	recs := []storage.CA{{Name: "root"}, {Name: "web-issuing", Parent: "root"}, {Name: "device-issuing", Parent: "root"},
		{Name: "other-root"}, {Name: "letsencrypt"}}
	seen := func(profiles ...string) []string {
		r := httptest.NewRequest("GET", "/api/v1/cas", nil)
		r = r.WithContext(context.WithValue(r.Context(), tokenKey{}, storage.Token{Name: "t", Profiles: profiles}))
		v := a.visibleCAs(r, recs)
		if v == nil {
			return nil
		}
		return slices.Sorted(maps.Keys(v))
	}
	if got := seen(); got != nil {
		t.Errorf("an unlimited token is limited to %v", got)
	}
	for _, tt := range []struct {
		profiles []string
		want     []string
	}{
		{[]string{"web"}, []string{"root", "web-issuing"}},
		{[]string{"web", "device"}, []string{"device-issuing", "root", "web-issuing"}},
		{[]string{"public"}, []string{"letsencrypt"}},
	} {
		if got := seen(tt.profiles...); !slices.Equal(got, tt.want) {
			t.Errorf("profiles %v see %v, want %v", tt.profiles, got, tt.want)
		}
	}
}
