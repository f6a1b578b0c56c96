package ca

import (
	"crypto/x509/pkix"
	"maps"
	"slices"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
)

// Subject attributes besides the common name (config.ProfileSubject): a
// profile fixes some and lets requests set others; the gateway takes
// nothing else of a request's subject.

// subjectAttr reads and writes one attribute of a pkix.Name.
type subjectAttr struct {
	get func(pkix.Name) []string
	set func(*pkix.Name, string)
}

// subjectAttrs are the attributes of config.SubjectAttributes.
var subjectAttrs = map[string]subjectAttr{
	"organization":        {func(n pkix.Name) []string { return n.Organization }, func(n *pkix.Name, v string) { n.Organization = []string{v} }},
	"organizational_unit": {func(n pkix.Name) []string { return n.OrganizationalUnit }, func(n *pkix.Name, v string) { n.OrganizationalUnit = []string{v} }},
	"country":             {func(n pkix.Name) []string { return n.Country }, func(n *pkix.Name, v string) { n.Country = []string{v} }},
	"province":            {func(n pkix.Name) []string { return n.Province }, func(n *pkix.Name, v string) { n.Province = []string{v} }},
	"locality":            {func(n pkix.Name) []string { return n.Locality }, func(n *pkix.Name, v string) { n.Locality = []string{v} }},
	"serial_number": {func(n pkix.Name) []string {
		if n.SerialNumber == "" {
			return nil
		}
		return []string{n.SerialNumber}
	}, func(n *pkix.Name, v string) { n.SerialNumber = v }},
}

// profileSubject is a profile's compiled subject rules.
type profileSubject struct {
	fixed   map[string]string
	fromCSR []string
}

func compileSubject(s config.ProfileSubject) profileSubject {
	return profileSubject{fixed: s.Fixed(), fromCSR: slices.Sorted(slices.Values(s.FromCSR))}
}

// Subject is the subject of a certificate under p for the common name cn
// and the subject a request asked for: p's fixed attributes, the requested
// values of those p lets a request set (each checked: one value, within
// its length, printable), and nothing else of the request's. A refused
// value is an errs.RejectedIdentifier naming the rule.
func (p *Profile) Subject(cn string, requested pkix.Name) (pkix.Name, error) {
	out := pkix.Name{CommonName: cn}
	for _, name := range slices.Sorted(maps.Keys(p.subject.fixed)) {
		subjectAttrs[name].set(&out, p.subject.fixed[name])
	}
	for _, name := range p.subject.fromCSR {
		vals := subjectAttrs[name].get(requested)
		switch {
		case len(vals) == 0:
			continue
		case len(vals) > 1:
			return pkix.Name{}, errs.New(errs.RejectedIdentifier, "profile %s: rule subject.from_csr: one %s at most, the request has %d", p.Name, name, len(vals))
		}
		if err := config.CheckSubjectValue(name, vals[0]); err != nil {
			return pkix.Name{}, errs.New(errs.RejectedIdentifier, "profile %s: rule subject.from_csr: %v", p.Name, err)
		}
		subjectAttrs[name].set(&out, vals[0])
	}
	return out, nil
}

// SubjectFromRequest names the subject attributes p lets a request set
// (config names: organization, serial_number...), sorted.
func (p *Profile) SubjectFromRequest() []string { return slices.Clone(p.subject.fromCSR) }

// SubjectOf turns attributes by their configuration names (organization,
// serial_number...) into a subject, for a request that names them rather
// than sending a CSR (a key the gateway generates). An unknown name is
// errs.Malformed.
func SubjectOf(attrs map[string]string) (pkix.Name, error) {
	var n pkix.Name
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		a, ok := subjectAttrs[name]
		if !ok {
			return pkix.Name{}, errs.New(errs.Malformed, "subject attribute %q: must be one of country, locality, organization, organizational_unit, province, serial_number", name)
		}
		a.set(&n, attrs[name])
	}
	return n, nil
}
