package ca

import (
	"crypto"
	"crypto/rand"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"strings"

	"github.com/certgw/gateway/errs"
)

// CheckProfiles lints, for every profile a gateway CA signs, a draft of
// what it issues: one certificate per key family the profile allows
// (ECDSA, RSA, Ed25519; the first size of each in key_types), for a sample
// name its rules accept, with its longest validity (max_validity), key
// usage and extended key usage, and a subject with the attributes it fixes
// and every one it lets a request set. A profile whose settings the lint gate refuses
// whatever is asked (a key usage at odds with its extended key usage, a
// lifetime the Baseline Requirements forbid) is reported when the gateway
// starts rather than as a 500 at each issuance. The drafts are signed with
// throwaway keys; nothing is stored or signed by a CA key.
func (c *Core) CheckProfiles() error {
	keys := map[string]crypto.Signer{} // by key type, shared by the profiles
	var problems []string
	for _, p := range c.Profiles {
		a := c.CAs[p.CA]
		if p.Upstream != "" || a == nil {
			continue
		}
		names := p.sampleNames()
		var cn string
		if p.commonName == "require" {
			cn = names.strings()[0]
		}
		// The fixed attributes, and every one a request may set, whatever
		// its pattern allows.
		subj, err := p.composeSubject(cn, sampleSubject, nil)
		if err != nil {
			return err
		}
		now := c.Now()
		params := LeafParams{
			Subject: subj, DNSNames: names.DNS, IPAddresses: names.IPs, EmailAddresses: names.Emails,
			NotBefore: now.Add(-Backdate), NotAfter: now.Add(p.MaxValidity),
			KeyUsage: p.KeyUsage, ExtKeyUsage: p.ExtKeyUsage,
		}
		if p.MaxValidity == 0 {
			params.NotAfter = now.Add(p.DefaultValidity)
		}
		seen := map[string]bool{}
		for _, kt := range p.KeyTypes {
			family, _, _ := strings.Cut(kt, "-")
			if seen[family] {
				continue
			}
			seen[family] = true
			key := keys[kt]
			if key == nil {
				var err error
				if key, err = GenerateKey(kt); err != nil {
					return err
				}
				keys[kt] = key
			}
			serial, err := NewSerial(rand.Reader)
			if err != nil {
				return errs.Wrap(errs.Internal, err, "serial")
			}
			if _, _, err := c.Issuer.lintedDraft(a, params, key.Public(), serial); err != nil {
				problems = append(problems, fmt.Sprintf("profile %s, %s key, %s: %v", p.Name, kt, strings.Join(names.strings(), ","), err))
			}
		}
	}
	if len(problems) > 0 {
		return errs.New(errs.Config, "a certificate these profiles would issue fails the lint gate (fix the profile or the CA's lint choice):\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

// sampleSubject asks for every subject attribute a profile may let a
// request set.
var sampleSubject = pkix.Name{
	Organization: []string{"Sample Organization"}, OrganizationalUnit: []string{"Sample Unit"}, Country: []string{"DE"},
	Province: []string{"Berlin"}, Locality: []string{"Berlin"}, SerialNumber: "0001",
}

// sampleNames is one identifier the profile's rules accept: a DNS name if
// it allows any, else an IP address, else an e-mail address.
func (p *Profile) sampleNames() Names {
	for _, r := range p.dnsRules {
		switch {
		case r == "*":
			return Names{DNS: []string{"host.example.com"}}
		case strings.HasPrefix(r, "."):
			return Names{DNS: []string{"host" + r}}
		default:
			return Names{DNS: []string{r}}
		}
	}
	for _, r := range p.ipRanges {
		return Names{IPs: []net.IP{net.IP(r.Addr().Next().AsSlice())}}
	}
	for _, r := range p.emailRules {
		switch {
		case r == "*":
			return Names{Emails: []string{"user@example.com"}}
		case strings.HasPrefix(r, "@"):
			return Names{Emails: []string{"user" + r}}
		default:
			return Names{Emails: []string{r}}
		}
	}
	return Names{DNS: []string{"host.example.com"}}
}
