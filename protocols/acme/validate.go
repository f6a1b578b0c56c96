package acme

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
)

// Challenge validation: http-01 (RFC 8555 section 8.3), dns-01 (section
// 8.4) and tls-alpn-01 (RFC 8737). Names are resolved with the configured
// resolver (acme.validation.resolver; empty = the system's), and unless
// allow_private_targets is set, only public addresses are contacted: the
// validator must not become a way to probe the gateway's own network.
//
// Problems never quote what the target sent: a body or a certificate could
// carry another service's secrets (it is the validator that fetched them).

type validator interface {
	validate(ctx context.Context, typ string, id storage.ACMEIdentifier, token, keyAuth string) error
}

type netValidator struct {
	resolver     *net.Resolver
	http01Port   int
	tlsalpnPort  int
	allowPrivate bool
	maxBody      int64
}

func newValidator(c config.ACMEValidation, set Settings) *netValidator {
	v := &netValidator{http01Port: c.HTTP01Port, tlsalpnPort: c.TLSALPN01Port, allowPrivate: c.AllowPrivateTargets, maxBody: set.MaxHTTPBody, resolver: net.DefaultResolver}
	if v.http01Port == 0 {
		v.http01Port = 80
	}
	if v.tlsalpnPort == 0 {
		v.tlsalpnPort = 443
	}
	if c.Resolver != "" {
		addr := c.Resolver
		v.resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}
	}
	return v
}

func (v *netValidator) validate(ctx context.Context, typ string, id storage.ACMEIdentifier, token, keyAuth string) error {
	switch typ {
	case "http-01":
		return v.http01(ctx, id, token, keyAuth)
	case "dns-01":
		return v.dns01(ctx, id, keyAuth)
	case "tls-alpn-01":
		return v.tlsALPN01(ctx, id, keyAuth)
	}
	return malformed("unknown challenge type %q", typ)
}

// blockedPrefixes are the non-public ranges refused unless
// allow_private_targets is set, beyond what netip classifies.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // RFC 6598 shared address space
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 reaches IPv4 inside
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("::ffff:0:0/96"), // IPv4-mapped
}

// allowedAddr reports whether the validator may contact addr.
func (v *netValidator) allowedAddr(addr netip.Addr) bool {
	if v.allowPrivate {
		return true
	}
	if addr.Is4In6() || addr.Zone() != "" {
		return false
	}
	if addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() ||
		addr.IsMulticast() || addr.IsUnspecified() || addr.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range blockedPrefixes {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// resolve returns the addresses of host the validator may contact, or a
// dns or connection problem.
func (v *netValidator) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ips, err := v.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil || len(ips) == 0 {
			return nil, prob(probDNS, http.StatusBadRequest, "no A or AAAA record found for %s", host)
		}
		addrs = ips
	}
	var ok []netip.Addr
	for _, a := range addrs {
		if v.allowedAddr(a) {
			ok = append(ok, a)
		}
	}
	if len(ok) == 0 {
		return nil, prob(probConnection, http.StatusBadRequest, "%s resolves only to addresses the validator may not contact (private, loopback, link-local or reserved)", host)
	}
	// IPv6 first, as Boulder does, then IPv4.
	var out []netip.Addr
	for _, a := range ok {
		if a.Is6() {
			out = append(out, a)
		}
	}
	for _, a := range ok {
		if a.Is4() {
			out = append(out, a)
		}
	}
	return out, nil
}

// dial connects to host:port through resolve, so that every connection,
// redirects included, goes to an allowed address (no DNS rebinding between
// the check and the dial).
func (v *netValidator) dial(ctx context.Context, network, hostport string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	addrs, err := v.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	var last error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}

const maxRedirects = 10

// http01 fetches http://{identifier}:{http01_port}/.well-known/acme-challenge/{token}.
func (v *netValidator) http01(ctx context.Context, id storage.ACMEIdentifier, token, keyAuth string) error {
	host := id.Value
	if id.Type == "ip" {
		if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
			host = "[" + host + "]"
		}
	}
	url := "http://" + host
	if v.http01Port != 80 {
		url += ":" + strconv.Itoa(v.http01Port)
	}
	url += "/.well-known/acme-challenge/" + token
	client := &http.Client{
		Transport: &http.Transport{
			DialContext:       v.dial,
			Proxy:             nil,
			DisableKeepAlives: true,
			// Section 8.3: a redirect to https is followed without checking
			// the certificate; the key authorization is what counts.
			TLSClientConfig:       &tls.Config{InsecureSkipVerify: true},
			ResponseHeaderTimeout: 10 * time.Second,
		},
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return prob(probConnection, http.StatusBadRequest, "too many redirects (more than %d)", maxRedirects)
			}
			if r.URL.Scheme != "http" && r.URL.Scheme != "https" {
				return prob(probConnection, http.StatusBadRequest, "redirect to a %q URL", r.URL.Scheme)
			}
			// The configured http01_port stands in for 80 (it is 80 in
			// production); anything else could reach internal services.
			if p := r.URL.Port(); p != "" && p != "80" && p != "443" && p != strconv.Itoa(v.http01Port) {
				return prob(probConnection, http.StatusBadRequest, "redirect to port %s: only 80 and 443 are followed", p)
			}
			return nil
		},
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return malformed("cannot build the validation URL for %s", id.Value)
	}
	hreq.Header.Set("User-Agent", "certgw-acme-validator")
	hreq.Header.Set("Accept", "*/*")
	resp, err := client.Do(hreq)
	if err != nil {
		var pe *probError
		if errors.As(err, &pe) {
			return pe
		}
		return prob(probConnection, http.StatusBadRequest, "fetching %s: %s", url, connReason(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return unauthorized("fetching %s: the server answered HTTP %d", resp.Request.URL.Redacted(), resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, v.maxBody+1))
	if err != nil {
		return prob(probConnection, http.StatusBadRequest, "reading %s: %s", url, connReason(err))
	}
	if int64(len(body)) > v.maxBody {
		return unauthorized("the response from %s is larger than %d bytes", resp.Request.URL.Redacted(), v.maxBody)
	}
	// Section 8.3: trailing whitespace is tolerated.
	got := strings.TrimRight(string(body), " \t\r\n")
	if subtle.ConstantTimeCompare([]byte(got), []byte(keyAuth)) != 1 {
		return unauthorized("the key authorization served at %s does not match the expected one", resp.Request.URL.Redacted())
	}
	return nil
}

// connReason names a network failure without quoting anything the target
// sent.
func connReason(err error) string {
	var pe *probError
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.As(err, &pe):
		return pe.Detail
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &oe) && oe.Op == "dial":
		return "connection refused or unreachable"
	}
	return "connection failed"
}

// dns01 looks up TXT _acme-challenge.{name} for base64url(SHA-256(keyAuth)).
func (v *netValidator) dns01(ctx context.Context, id storage.ACMEIdentifier, keyAuth string) error {
	if id.Type != "dns" {
		return malformed("dns-01 validates dns identifiers only")
	}
	sum := sha256.Sum256([]byte(keyAuth))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	name := "_acme-challenge." + id.Value
	txts, err := v.resolver.LookupTXT(ctx, name)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return unauthorized("no TXT record found at %s", name)
		}
		return prob(probDNS, http.StatusBadRequest, "DNS lookup of TXT %s failed", name)
	}
	for _, t := range txts {
		if subtle.ConstantTimeCompare([]byte(t), []byte(want)) == 1 {
			return nil
		}
	}
	return unauthorized("none of the %d TXT records at %s is the expected digest", len(txts), name)
}

// idPeAcmeIdentifier is the RFC 8737 section 6.1 extension OID.
var idPeAcmeIdentifier = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}

// tlsALPN01 connects with ALPN acme-tls/1 and checks the self-signed
// certificate (RFC 8737 section 3).
func (v *netValidator) tlsALPN01(ctx context.Context, id storage.ACMEIdentifier, keyAuth string) error {
	sni := id.Value
	if id.Type == "ip" {
		// RFC 8738 section 6: the SNI is the reverse-DNS name.
		a, err := netip.ParseAddr(id.Value)
		if err != nil {
			return malformed("bad ip identifier")
		}
		sni = reverseName(a)
	}
	conn, err := v.dial(ctx, "tcp", net.JoinHostPort(id.Value, strconv.Itoa(v.tlsalpnPort)))
	if err != nil {
		var pe *probError
		if errors.As(err, &pe) {
			return pe
		}
		return prob(probConnection, http.StatusBadRequest, "connecting to %s port %d: %s", id.Value, v.tlsalpnPort, connReason(err))
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: sni, NextProtos: []string{"acme-tls/1"}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	if err := tc.HandshakeContext(ctx); err != nil {
		return prob(probTLS, http.StatusBadRequest, "TLS handshake with %s failed", id.Value)
	}
	st := tc.ConnectionState()
	if st.NegotiatedProtocol != "acme-tls/1" {
		return unauthorized("%s did not negotiate the acme-tls/1 protocol", id.Value)
	}
	if len(st.PeerCertificates) == 0 {
		return unauthorized("%s presented no certificate", id.Value)
	}
	cert := st.PeerCertificates[0]
	if err := checkALPNCert(cert, id, keyAuth); err != nil {
		return err
	}
	return nil
}

func checkALPNCert(cert *x509.Certificate, id storage.ACMEIdentifier, keyAuth string) error {
	// Exactly one SAN: the identifier.
	switch id.Type {
	case "dns":
		if len(cert.DNSNames) != 1 || !strings.EqualFold(cert.DNSNames[0], id.Value) || len(cert.IPAddresses) != 0 {
			return unauthorized("the acme-tls/1 certificate must name exactly %s", id.Value)
		}
	case "ip":
		if len(cert.IPAddresses) != 1 || cert.IPAddresses[0].String() != id.Value || len(cert.DNSNames) != 0 {
			return unauthorized("the acme-tls/1 certificate must name exactly %s", id.Value)
		}
	}
	sum := sha256.Sum256([]byte(keyAuth))
	for _, e := range cert.Extensions {
		if !e.Id.Equal(idPeAcmeIdentifier) {
			continue
		}
		if !e.Critical {
			return unauthorized("the acmeIdentifier extension must be critical")
		}
		var got []byte
		if rest, err := asn1.Unmarshal(e.Value, &got); err != nil || len(rest) != 0 {
			return unauthorized("the acmeIdentifier extension is malformed")
		}
		if subtle.ConstantTimeCompare(got, sum[:]) != 1 {
			return unauthorized("the acmeIdentifier extension does not match the key authorization")
		}
		return nil
	}
	return unauthorized("the acme-tls/1 certificate has no acmeIdentifier extension")
}

func reverseName(a netip.Addr) string {
	b := a.AsSlice()
	var sb strings.Builder
	if a.Is4() {
		for i := len(b) - 1; i >= 0; i-- {
			fmt.Fprintf(&sb, "%d.", b[i])
		}
		return sb.String() + "in-addr.arpa"
	}
	for i := len(b) - 1; i >= 0; i-- {
		fmt.Fprintf(&sb, "%x.%x.", b[i]&0xf, b[i]>>4)
	}
	return sb.String() + "ip6.arpa"
}
