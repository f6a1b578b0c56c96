package api_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/certgw/gateway/test/teststore"
)

type profilesPage struct {
	Profiles []struct {
		Name         string   `json:"name"`
		Description  string   `json:"description"`
		ACMEProfiles []string `json:"acme_profiles"`
		CA           string   `json:"ca"`
		Methods      []string `json:"methods"`
		KeyTypes     []string `json:"key_types"`
		Names        struct {
			DNS      []string `json:"dns"`
			IPRanges []string `json:"ip_ranges"`
			Max      int      `json:"max"`
		} `json:"names"`
		MaxValidity     string `json:"max_validity"`
		DefaultValidity string `json:"default_validity"`
		ServerKeygen    bool   `json:"server_keygen"`
		AutoRenew       bool   `json:"auto_renew"`
		RenewBefore     string `json:"renew_before"`
		Approval        struct {
			Methods   []string `json:"methods"`
			Approvals int      `json:"approvals"`
		} `json:"approval"`
		Endpoints map[string]string `json:"endpoints"`
	} `json:"profiles"`
}

// GET /profiles shows each profile's rules and endpoints, by name; a
// token limited to profiles sees its own.
func TestProfiles(t *testing.T) {
	e := newEnv(t, teststore.SQLite(t))
	var all profilesPage
	e.do("GET", "/api/v1/profiles", reader, nil).decode(t, http.StatusOK, &all)
	var names []string
	for _, p := range all.Profiles {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"acme-only", "acme-short", "csr-only", "device", "held", "held2", "web"}) {
		t.Fatalf("profiles %v", names)
	}
	web := all.Profiles[6]
	if web.CA != "issuing" || !slices.Equal(web.KeyTypes, []string{"ecdsa-p256", "rsa-2048"}) || web.MaxValidity != "397d" || web.DefaultValidity != "90d" ||
		!web.ServerKeygen || web.AutoRenew || web.RenewBefore != "30d" || !slices.Equal(web.Names.DNS, []string{".example.com"}) ||
		!slices.Equal(web.Names.IPRanges, []string{"10.0.0.0/8"}) || web.Names.Max != 10 || web.Endpoints["api"] != "/api/v1/profiles/web/certificates" ||
		web.Approval.Approvals != 1 || len(web.Approval.Methods) != 0 {
		t.Errorf("web: %+v", web)
	}
	acme := all.Profiles[0]
	if acme.Endpoints["acme"] != "/acme/acme-only/directory" || acme.Endpoints["scep"] != "/scep/acme-only" || acme.Endpoints["api"] != "" {
		t.Errorf("acme-only endpoints %v", acme.Endpoints)
	}
	if !slices.Equal(acme.ACMEProfiles, []string{"acme-short"}) || acme.Description != "" {
		t.Errorf("acme-only offers %v, description %q", acme.ACMEProfiles, acme.Description)
	}
	if short := all.Profiles[1]; short.Description != "7-day certificates" || short.ACMEProfiles != nil || short.Endpoints["acme"] != "/acme/acme-short/directory" {
		t.Errorf("acme-short: %+v", short)
	}
	if held2 := all.Profiles[5]; held2.Approval.Approvals != 2 || !slices.Equal(held2.Approval.Methods, []string{"api"}) {
		t.Errorf("held2 approval %+v", held2.Approval)
	}

	e.addToken("web-reader", []string{"read"}, "web")
	var mine profilesPage
	e.do("GET", "/api/v1/profiles", "web-reader", nil).decode(t, http.StatusOK, &mine)
	if len(mine.Profiles) != 1 || mine.Profiles[0].Name != "web" {
		t.Fatalf("a token limited to web sees %+v", mine.Profiles)
	}
}
