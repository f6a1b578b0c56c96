package acme

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/certgw/gateway/storage"
	"github.com/miekg/dns"
)

// CAA (RFC 8659): with acme.validation.caa_identities set, a DNS name is
// issued only if its domain's CAA records let one of those identities
// issue, as a public CA must do (CA/Browser Forum Baseline Requirements
// 3.2.2.8). A record may narrow its permission with RFC 8657's
// parameters: accounturi (only that ACME account) and validationmethods
// (only those challenge types). The check runs after a challenge validated, so a refusal
// turns the authorization invalid with a caa problem naming the record,
// and again at finalization when that was more than caaRecheckAfter ago.
// Without identities (the default) nothing is looked up: a private CA
// that no CAA record names would otherwise be refused wherever a domain
// allows only public CAs.

// caaRecheckAfter is how old a validation may be at finalization before
// CAA is looked up again: the Baseline Requirements (3.2.2.8) want CAA
// checked within 8 hours before issuance, and an order lives up to
// acme.order_lifetime (24h by default) after its challenges validated.
const caaRecheckAfter = 8 * time.Hour

// recheckCAA checks CAA again, at finalization, for each DNS identifier
// of o whose challenge validated more than caaRecheckAfter ago, with the
// account and method of that validation; a refusal is the caa problem
// that fails the order. Orders of external CAs do not come here.
func (s *Server) recheckCAA(ctx context.Context, req *request, o storage.ACMEOrder) error {
	if s.caa == nil {
		return nil
	}
	authzs, err := s.store.ACMEOrderAuthzs(ctx, o.ID)
	if err != nil {
		return err
	}
	now := s.now()
	for _, a := range authzs {
		if a.Identifier.Type != "dns" {
			continue
		}
		for _, c := range a.Challenges {
			if c.Status != storage.ACMEValid || now.Sub(c.Validated) <= caaRecheckAfter {
				continue
			}
			if err := s.caa.check(ctx, a.Identifier.Value, a.Wildcard, s.accountURL(req.base, o.AccountID), c.Type); err != nil {
				s.log.Info("acme: CAA refused at finalization", "order", o.ID, "identifier", a.Identifier.Value, "validated", c.Validated, "err", err)
				return err
			}
		}
	}
	return nil
}

// signsItself reports whether the gateway's own CA would issue for the
// order of a: the CAA records that matter to an external CA's
// certificates are that CA's to check, under its own identities. An
// order that cannot be read is taken as the gateway's (the safe side).
func (s *Server) signsItself(ctx context.Context, a storage.ACMEAuthz) bool {
	o, err := s.store.GetACMEOrder(ctx, a.OrderID)
	if err != nil {
		return true
	}
	p := s.profiles[o.Profile]
	return p == nil || p.Upstream == ""
}

// caaChecker looks up CAA records with the validator's resolver.
type caaChecker struct {
	identities []string // lower case, without a trailing dot
	// resolver is host:port of the resolver asked (acme.validation.resolver);
	// empty: the system's, read from /etc/resolv.conf at each check.
	resolver string
	client   *dns.Client
}

// newCAAChecker makes a checker for identities that asks resolver; nil
// without identities.
func newCAAChecker(identities []string, resolver string) *caaChecker {
	if len(identities) == 0 {
		return nil
	}
	c := &caaChecker{resolver: resolver, client: &dns.Client{Timeout: 5 * time.Second}}
	for _, id := range identities {
		c.identities = append(c.identities, strings.TrimSuffix(strings.ToLower(id), "."))
	}
	return c
}

// servers are the resolvers to ask, in turn.
func (c *caaChecker) servers() ([]string, error) {
	if c.resolver != "" {
		return []string{c.resolver}, nil
	}
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	return out, nil
}

// check reports whether CAA lets the gateway issue for name (wildcard: a
// certificate for *.name) to the ACME account at accountURI, validated by
// method, or the caa or dns problem that says why not.
func (c *caaChecker) check(ctx context.Context, name string, wildcard bool, accountURI, method string) error {
	set, at, err := c.relevant(ctx, strings.TrimSuffix(strings.ToLower(name), "."))
	if err != nil {
		return err
	}
	if len(set) == 0 {
		return nil
	}
	var issue, issuewild []*dns.CAA
	for _, r := range set {
		switch strings.ToLower(r.Tag) {
		case "issue":
			issue = append(issue, r)
		case "issuewild":
			issuewild = append(issuewild, r)
		case "iodef", "issuemail", "issuevmc", "contactemail", "contactphone":
		default:
			if r.Flag&128 != 0 {
				return prob(probCAA, http.StatusForbidden, "CAA record at %s has a critical property %q the gateway does not know: it may not issue for %s", at, r.Tag, name)
			}
		}
	}
	rules, kind := issue, "issue"
	if wildcard && len(issuewild) > 0 {
		rules, kind = issuewild, "issuewild"
	}
	if len(rules) == 0 {
		return nil // CAA records, but none about issuing
	}
	var named, narrowed []string
	for _, r := range rules {
		domain, params, _ := strings.Cut(r.Value, ";")
		domain = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
		if !slices.Contains(c.identities, domain) {
			if domain == "" {
				domain = `"" (no CA)`
			}
			named = append(named, domain)
			continue
		}
		why := caaParamsRefuse(params, accountURI, method)
		if why == "" {
			return nil
		}
		narrowed = append(narrowed, why)
	}
	if len(narrowed) > 0 {
		return prob(probCAA, http.StatusForbidden, "CAA %s records at %s name this gateway for %s, but %s",
			kind, at, name, strings.Join(narrowed, "; or "))
	}
	return prob(probCAA, http.StatusForbidden, "CAA %s records at %s let %s issue for %s, not this gateway (%s)",
		kind, at, strings.Join(named, ", "), name, strings.Join(c.identities, ", "))
}

// caaParamsRefuse says why the parameters of a CAA record naming the
// gateway (RFC 8657) do not let accountURI issue after validating with
// method, or "" when they do. Unknown parameters are ignored.
func caaParamsRefuse(params, accountURI, method string) string {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			continue
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		switch k {
		case "accounturi":
			if v != accountURI {
				return "only for the account " + v
			}
		case "validationmethods":
			methods := strings.Split(strings.ToLower(v), ",")
			for i := range methods {
				methods[i] = strings.TrimSpace(methods[i])
			}
			if !slices.Contains(methods, method) {
				return "only after validation by " + v + ", not " + method
			}
		}
	}
	return ""
}

// relevant finds the relevant CAA record set of name (RFC 8659 section
// 3): the first non-empty one from name up its parents, short of the
// root; at is where it was found.
func (c *caaChecker) relevant(ctx context.Context, name string) (set []*dns.CAA, at string, err error) {
	servers, serr := c.servers() // once for the walk up the parents
	for x := name; x != ""; {
		set, err := c.lookup(ctx, servers, serr, x)
		if err != nil {
			return nil, "", err
		}
		if len(set) > 0 {
			return set, x, nil
		}
		_, parent, ok := strings.Cut(x, ".")
		if !ok {
			break
		}
		x = parent
	}
	return nil, "", nil
}

// lookup asks servers (or fails with serr, why there are none) for the
// CAA records of name. A name that does not exist has none; any other
// failure to answer is a dns problem, since a CA must not issue when it
// cannot tell (RFC 8659 section 3).
func (c *caaChecker) lookup(ctx context.Context, servers []string, serr error, name string) ([]*dns.CAA, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeCAA)
	q.RecursionDesired = true
	last := serr
	if last == nil && len(servers) == 0 {
		last = errors.New("no resolver in /etc/resolv.conf")
	}
	for _, server := range servers {
		r, _, err := c.client.ExchangeContext(ctx, q, server)
		if err == nil && r.Truncated { // too long for UDP: ask again over TCP
			tcp := *c.client
			tcp.Net = "tcp"
			r, _, err = tcp.ExchangeContext(ctx, q, server)
		}
		if err != nil {
			last = err
			continue
		}
		switch r.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
		default:
			last = fmt.Errorf("%s answered %s", server, dns.RcodeToString[r.Rcode])
			continue
		}
		var out []*dns.CAA
		for _, rr := range r.Answer {
			if caa, ok := rr.(*dns.CAA); ok {
				out = append(out, caa)
			}
		}
		return out, nil
	}
	return nil, prob(probDNS, http.StatusBadRequest, "CAA lookup of %s failed: %v", name, last)
}
