package ca

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"maps"
	"regexp"
	"slices"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
)

// Subject attributes besides the common name (config.ProfileSubject): a
// profile fixes some and lets requests set others; the gateway takes
// nothing else of a request's subject.

// subjectAttr reads and writes one attribute of a pkix.Name; typ is its
// X.520 attribute type.
type subjectAttr struct {
	typ asn1.ObjectIdentifier
	get func(pkix.Name) []string
	set func(*pkix.Name, string)
}

// subjectAttrs are the attributes of config.SubjectAttributes.
var subjectAttrs = map[string]subjectAttr{
	"organization":        {asn1.ObjectIdentifier{2, 5, 4, 10}, func(n pkix.Name) []string { return n.Organization }, func(n *pkix.Name, v string) { n.Organization = []string{v} }},
	"organizational_unit": {asn1.ObjectIdentifier{2, 5, 4, 11}, func(n pkix.Name) []string { return n.OrganizationalUnit }, func(n *pkix.Name, v string) { n.OrganizationalUnit = []string{v} }},
	"country":             {asn1.ObjectIdentifier{2, 5, 4, 6}, func(n pkix.Name) []string { return n.Country }, func(n *pkix.Name, v string) { n.Country = []string{v} }},
	"province":            {asn1.ObjectIdentifier{2, 5, 4, 8}, func(n pkix.Name) []string { return n.Province }, func(n *pkix.Name, v string) { n.Province = []string{v} }},
	"locality":            {asn1.ObjectIdentifier{2, 5, 4, 7}, func(n pkix.Name) []string { return n.Locality }, func(n *pkix.Name, v string) { n.Locality = []string{v} }},
	"serial_number": {asn1.ObjectIdentifier{2, 5, 4, 5}, func(n pkix.Name) []string {
		if n.SerialNumber == "" {
			return nil
		}
		return []string{n.SerialNumber}
	}, func(n *pkix.Name, v string) { n.SerialNumber = v }},
}

// profileSubject is a profile's compiled subject rules.
type profileSubject struct {
	fixed      map[string]string
	fixedNames []string // fixed's keys, sorted once
	fromCSR    []string
	// patterns are subject.patterns, whole-value matches, by attribute
	// name (common_name, or one of fromCSR); exprs as configured.
	patterns map[string]*regexp.Regexp
	exprs    map[string]string
}

// SubjectRules are what a profile does with a subject, for those who
// ask before they request (GET /api/v1/profiles): the attributes it fixes,
// those a request may set, and the patterns they must match.
type SubjectRules struct {
	Fixed    map[string]string
	FromCSR  []string
	Patterns map[string]string
}

// SubjectRules returns p's subject rules.
func (p *Profile) SubjectRules() SubjectRules {
	return SubjectRules{Fixed: maps.Clone(p.subject.fixed), FromCSR: slices.Clone(p.subject.fromCSR), Patterns: maps.Clone(p.subject.exprs)}
}

func compileSubject(s config.ProfileSubject) (profileSubject, error) {
	fixed := s.Fixed()
	out := profileSubject{fixed: fixed, fixedNames: slices.Sorted(maps.Keys(fixed)), fromCSR: slices.Sorted(slices.Values(s.FromCSR)), exprs: maps.Clone(s.Patterns)}
	for _, name := range slices.Sorted(maps.Keys(s.Patterns)) {
		re, err := config.CompileSubjectPattern(s.Patterns[name])
		if err != nil {
			return out, fmt.Errorf("subject.patterns.%s: %w", name, err)
		}
		if out.patterns == nil {
			out.patterns = map[string]*regexp.Regexp{}
		}
		out.patterns[name] = re
	}
	return out, nil
}

// matches checks a requested value against the pattern of attribute
// name in patterns, if there is one.
func (p *Profile) matches(patterns map[string]*regexp.Regexp, name, v string) error {
	if re := patterns[name]; re != nil && !re.MatchString(v) {
		return errs.New(errs.RejectedIdentifier, "profile %s: rule subject.patterns.%s: %q does not match %s", p.Name, name, v, re)
	}
	return nil
}

// Subject is the subject of a certificate under p for the common name cn
// and the subject a request asked for: p's fixed attributes, the requested
// values of those p lets a request set (each checked: one value, within
// its length, printable, matching its pattern), and nothing else of the
// request's. A refused value is an errs.RejectedIdentifier naming the
// rule; so is a common name that does not match its pattern.
func (p *Profile) Subject(cn string, requested pkix.Name) (pkix.Name, error) {
	return p.composeSubject(cn, requested, p.subject.patterns)
}

// composeSubject is Subject, with the values checked against patterns
// (nil: against none, for the sample subject of CheckProfiles).
func (p *Profile) composeSubject(cn string, requested pkix.Name, patterns map[string]*regexp.Regexp) (pkix.Name, error) {
	if cn != "" {
		if err := p.matches(patterns, "common_name", cn); err != nil {
			return pkix.Name{}, err
		}
	}
	out := pkix.Name{CommonName: cn}
	for _, name := range p.subject.fixedNames {
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
		if err := p.matches(patterns, name, vals[0]); err != nil {
			return pkix.Name{}, err
		}
		subjectAttrs[name].set(&out, vals[0])
	}
	return out, nil
}

// RequestedSubjectTypes are the attribute types of the subject attributes
// p lets a request set, in the order of their configuration names.
func (p *Profile) RequestedSubjectTypes() []asn1.ObjectIdentifier {
	var out []asn1.ObjectIdentifier
	for _, name := range p.subject.fromCSR {
		out = append(out, subjectAttrs[name].typ)
	}
	return out
}

// SubjectOf turns attributes by their configuration names (organization,
// serial_number...) into a subject, for a request that names them rather
// than sending a CSR (a key the gateway generates). An unknown name is
// errs.Malformed.
func SubjectOf(attrs map[string]string) (pkix.Name, error) {
	var n pkix.Name
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		a, ok := subjectAttrs[name]
		if !ok {
			return pkix.Name{}, errs.New(errs.Malformed, "subject attribute %q: must be one of %s", name, config.SubjectAttributeNames())
		}
		a.set(&n, attrs[name])
	}
	return n, nil
}
