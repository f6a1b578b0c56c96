package api

import (
	"maps"
	"net/http"
	"slices"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
)

// profileJSON is a certificate profile as GET /profiles shows it: what it
// lets a requester ask for, and where its enrollment methods are served.
type profileJSON struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// CA issues its certificates, or Upstream (an external ACME CA).
	CA              string              `json:"ca,omitempty"`
	Upstream        string              `json:"upstream,omitempty"`
	Methods         []string            `json:"methods"`
	Names           nameRulesJSON       `json:"names"`
	KeyTypes        []string            `json:"key_types"`
	MaxValidity     string              `json:"max_validity"`
	DefaultValidity string              `json:"default_validity"`
	ServerKeygen    bool                `json:"server_keygen"`
	AutoRenew       bool                `json:"auto_renew"`
	RenewBefore     string              `json:"renew_before"`
	Subject         subjectRulesJSON    `json:"subject"`
	Approval        profileApprovalJSON `json:"approval"`
	Endpoints       endpointsJSON       `json:"endpoints"`
	// ACMEProfiles are the other profiles its ACME directory offers to
	// orders that name them (draft-ietf-acme-profiles).
	ACMEProfiles []string `json:"acme_profiles,omitempty"`
}

type nameRulesJSON struct {
	DNS             []string `json:"dns"`
	Wildcards       bool     `json:"wildcards"`
	IPRanges        []string `json:"ip_ranges"`
	Emails          []string `json:"emails"`
	URIs            []string `json:"uris"`
	CommonName      string   `json:"common_name"`
	CommonNameInSAN bool     `json:"common_name_in_san"`
	Max             int      `json:"max"`
}

// profileApprovalJSON says which methods' first enrollments wait for approval,
// and for how many.
type profileApprovalJSON struct {
	Methods   []string `json:"methods"`
	Approvals int      `json:"approvals"`
}

// endpointsJSON are the paths of a profile's enrollment methods: ACME,
// EST and the REST API on the HTTPS listener, SCEP on the HTTP one.
type endpointsJSON struct {
	ACME string `json:"acme,omitempty"`
	EST  string `json:"est,omitempty"`
	SCEP string `json:"scep,omitempty"`
	CMP  string `json:"cmp,omitempty"`
	API  string `json:"api,omitempty"`
}

// profiles lists the certificate profiles, by name, that the token may
// use: GET /profiles. A pipeline learns from it what it may ask for
// before it asks.
func (a *API) profiles(w http.ResponseWriter, r *http.Request) {
	tok := tokenOf(r)
	out := []profileJSON{}
	for _, name := range slices.Sorted(maps.Keys(a.core.Profiles)) {
		if len(tok.Profiles) > 0 && !slices.Contains(tok.Profiles, name) {
			continue
		}
		out = append(out, profileOf(a.core.Profiles[name]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"profiles": out})
}

// subjectRulesJSON is a profile's subject rules besides the common name:
// attributes fixed in every certificate, those a request may set, and the
// whole-value patterns (RE2) a request's values must match.
type subjectRulesJSON struct {
	Fixed    map[string]string `json:"fixed"`
	FromCSR  []string          `json:"from_csr"`
	Patterns map[string]string `json:"patterns"`
}

func profileOf(p *ca.Profile) profileJSON {
	n := p.Names()
	list := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	out := profileJSON{
		Name: p.Name, Description: p.Description, ACMEProfiles: slices.Clone(p.ACMEOffers), CA: p.CA, Upstream: p.Upstream, Methods: list(slices.Clone(p.Methods)),
		Names: nameRulesJSON{DNS: list(n.DNS), Wildcards: n.Wildcards, IPRanges: list(n.IPRanges), Emails: list(n.Emails), URIs: list(n.URIs),
			CommonName: n.CommonName, CommonNameInSAN: n.CommonNameInSAN, Max: n.Max},
		KeyTypes:    list(slices.Clone(p.KeyTypes)),
		MaxValidity: config.Duration(p.MaxValidity).String(), DefaultValidity: config.Duration(p.DefaultValidity).String(),
		ServerKeygen: p.ServerKeygen, AutoRenew: p.AutoRenew, RenewBefore: config.Duration(p.RenewBefore).String(),
		Approval: profileApprovalJSON{Methods: list(slices.Clone(p.Approval)), Approvals: max(p.Approvals, 1)},
	}
	sr := p.SubjectRules()
	out.Subject = subjectRulesJSON{Fixed: sr.Fixed, FromCSR: list(sr.FromCSR), Patterns: sr.Patterns}
	if out.Subject.Fixed == nil {
		out.Subject.Fixed = map[string]string{}
	}
	if out.Subject.Patterns == nil {
		out.Subject.Patterns = map[string]string{}
	}
	for _, m := range p.Methods {
		switch m {
		case "acme":
			out.Endpoints.ACME = "/acme/" + p.Name + "/directory"
		case "est":
			out.Endpoints.EST = "/.well-known/est/" + p.Name
		case "scep":
			out.Endpoints.SCEP = "/scep/" + p.Name
		case "cmp":
			out.Endpoints.CMP = "/.well-known/cmp/p/" + p.Name
		case "api":
			out.Endpoints.API = "/api/v1/profiles/" + p.Name + "/certificates"
		}
	}
	return out
}
