package est

import (
	"context"
	"crypto/x509"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/protocols/internal/throttle"
	"github.com/certgw/gateway/storage"
)

// identity is who an enrollment request was authenticated as.
type identity struct {
	// requester goes to the inventory and the audit trail:
	// "basic:USER", "cert:SERIAL" (a certificate of the gateway) or
	// "bootstrap:SUBJECT" (a certificate of a bootstrap CA).
	requester string
	// cert is the client certificate, when it authenticated the request.
	cert *x509.Certificate
}

// authenticate applies the profile's methods to simpleenroll and
// serverkeygen (RFC 7030 section 3.3). Any accepted method that succeeds
// authenticates the request, or every one with RequireAll. A failure is
// errs.Unauthorized listing why each method failed; a store or hash fault
// is returned as it is.
func (s *Server) authenticate(r *http.Request, ps *profileState) (identity, error) {
	ctx := r.Context()
	var id identity
	var who, why, accepted []string
	needed := 0
	if ps.clientCert {
		needed++
		accepted = append(accepted, "a TLS client certificate")
		cert, requester, err := s.clientCertificate(ctx, r, ps)
		switch {
		case err == nil:
			id.cert = cert
			who = append(who, requester)
		case errs.Is(err, errs.Unauthorized), errs.Is(err, errs.Forbidden):
			why = append(why, err.Error())
		default:
			return identity{}, err
		}
	}
	// With any one method enough, a good certificate spares the argon2id
	// check of a password sent along with it.
	if ps.basic && (ps.set.RequireAll || len(who) == 0) {
		needed++
		accepted = append(accepted, "HTTP Basic")
		requester, err := s.basicAuth(ctx, r, ps)
		switch {
		case err == nil:
			who = append(who, requester)
		case errs.Is(err, errs.Unauthorized):
			why = append(why, err.Error())
		default:
			return identity{}, err
		}
	}
	ok := len(who) > 0
	joiner := " or "
	if ps.set.RequireAll {
		ok, joiner = len(who) == needed, " and "
	}
	if !ok {
		return identity{}, errs.New(errs.Unauthorized, "profile %s needs %s: %s", ps.name, strings.Join(accepted, joiner), strings.Join(why, "; "))
	}
	id.requester = strings.Join(who, " ")
	return id, nil
}

// basicAuth checks HTTP Basic credentials (RFC 7617) against the profile's
// stored hash, which it reads from the store at most once per credTTL. An
// unknown user costs the same argon2id check as a wrong password, so that
// timing does not tell which users exist; unknown users are not cached.
// After maxPasswordFailures wrong passwords for a profile from one address
// within passwordFailureWindow, that address's new passwords for the
// profile are refused unchecked until the window has passed.
func (s *Server) basicAuth(ctx context.Context, r *http.Request, ps *profileState) (string, error) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "", errs.New(errs.Unauthorized, "no HTTP Basic credentials")
	}
	wrong := errs.New(errs.Unauthorized, "HTTP Basic: unknown user or wrong password")
	stored, known := s.dummyHash, false
	key, now := credKey{ps.name, user}, s.now()
	if h, ok := s.creds.Get(key, now); ok {
		stored, known = h, true
	} else if user != "" {
		cred, err := s.store.GetESTCredential(ctx, ps.name, user)
		switch {
		case err == nil:
			stored, known = cred.Hash, true
			s.creds.Put(key, cred.Hash, now)
		case !errs.Is(err, errs.NotFound):
			return "", err
		}
	}
	if known && s.verified.has(stored, pass) {
		return "basic:" + user, nil
	}
	// A password not verified lately costs an argon2id check: none for a
	// client that guessed wrong too often lately (package throttle). A
	// device that enrolled before keeps working from a blocked address
	// (the memo above), as do the profile's other addresses.
	addr := throttle.ClientAddr(r)
	guesser := ps.name + " " + addr
	if s.failed.Blocked(ctx, guesser, now) {
		return "", errs.New(errs.Unauthorized, "HTTP Basic: too many wrong passwords for profile %s from %s lately: try again in %s", ps.name, addr, passwordFailureWindow)
	}
	select {
	case s.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return "", errs.Wrap(errs.Unavailable, ctx.Err(), "waiting to check a password")
	}
	match, err := CheckPassword(stored, pass)
	<-s.hashSlots
	if err != nil {
		return "", errs.Wrap(errs.Internal, err, "EST user %q of profile %s", user, ps.name)
	}
	if !known || !match {
		if err := s.failed.Add(ctx, guesser, now); err != nil {
			s.log.Warn("EST: a wrong password is counted by this replica alone: the store did not record it", "profile", ps.name, "addr", addr, "err", err)
		}
		return "", wrong
	}
	s.verified.add(stored, pass)
	return "basic:" + user, nil
}

// clientCertificate authenticates the TLS client certificate of an
// enrollment: a certificate the gateway issued under this profile that is
// active and unexpired, or one that chains to a bootstrap CA of the
// profile. Either must be valid for TLS client authentication (RFC 7030
// section 3.3.2).
func (s *Server) clientCertificate(ctx context.Context, r *http.Request, ps *profileState) (*x509.Certificate, string, error) {
	leaf, opts, err := s.peer(r)
	if err != nil {
		return nil, "", err
	}
	rec, ours, ownErr := s.ownCertificate(ctx, leaf, opts, ps, x509.ExtKeyUsageClientAuth)
	if ours {
		if ownErr != nil {
			return nil, "", ownErr
		}
		return leaf, "cert:" + rec.Serial, nil
	}
	if ps.bootstrap != nil {
		opts.Roots, opts.KeyUsages = ps.bootstrap, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		if _, err := leaf.Verify(opts); err == nil {
			return leaf, "bootstrap:" + leaf.Subject.String(), nil
		}
	}
	return nil, "", errs.Wrap(errs.Unauthorized, ownErr, "TLS client certificate %q (issuer %q) is not valid from the gateway's CAs or a bootstrap CA of profile %s",
		leaf.Subject.String(), leaf.Issuer.String(), ps.name)
}

// renewedCertificate authenticates simplereenroll: the TLS client
// certificate must be the certificate being renewed (RFC 7030 section
// 4.2.2), issued by the gateway under this profile, unexpired and not
// revoked. Its extended key usage does not matter: the handshake proved
// the key, and a server certificate is renewed the same way.
func (s *Server) renewedCertificate(ctx context.Context, r *http.Request, ps *profileState) (*x509.Certificate, storage.Certificate, error) {
	leaf, opts, err := s.peer(r)
	if err != nil {
		return nil, storage.Certificate{}, errs.New(errs.Unauthorized,
			"simplereenroll needs TLS client authentication with the certificate being renewed (RFC 7030 section 4.2.2)")
	}
	rec, ours, err := s.ownCertificate(ctx, leaf, opts, ps, x509.ExtKeyUsageAny)
	if err != nil && !ours {
		err = errs.Wrap(errs.Unauthorized, err, "the TLS client certificate %q is not a valid certificate of this gateway", leaf.Subject.String())
	}
	return leaf, rec, err
}

// ownCertificate checks that leaf, whose key the handshake proved, is a
// certificate the gateway handed out under ps and is valid now for usage.
// ours is false when the gateway does not know it, so that the caller may
// try other trust anchors; err then says why.
//
// A certificate of a gateway CA must chain to that CA and be active in the
// inventory. A profile backed by an external ACME CA has no trust anchor
// the gateway could hold (the CA's intermediates come and go with its
// certificates), but the gateway recorded every certificate the CA issued
// for it: the inventory is the anchor. Such a certificate must be, byte
// for byte, an active certificate of the profile in the inventory, within
// its validity and, for usage ExtKeyUsageClientAuth, allow it.
func (s *Server) ownCertificate(ctx context.Context, leaf *x509.Certificate, opts x509.VerifyOptions, ps *profileState, usage x509.ExtKeyUsage) (rec storage.Certificate, ours bool, err error) {
	if ps.authority == nil {
		rec, err = s.inventoryRecord(ctx, leaf, ps)
		switch kind := errs.KindOf(err); {
		case err != nil && kind != errs.Unavailable && kind != errs.Internal:
			return rec, false, err
		case err != nil:
			return rec, true, err
		}
		now := opts.CurrentTime
		if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			return rec, true, errs.New(errs.Unauthorized, "certificate %s is valid from %s to %s, not now", rec.Serial,
				leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		if usage == x509.ExtKeyUsageClientAuth && len(leaf.ExtKeyUsage) > 0 &&
			!slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
			return rec, true, errs.New(errs.Forbidden, "certificate %s does not allow TLS client authentication (extended key usage)", rec.Serial)
		}
		return rec, true, nil
	}
	opts.KeyUsages = []x509.ExtKeyUsage{usage}
	if opts.Roots, err = s.gateway.Get(); err != nil {
		return rec, true, err
	}
	if _, err := leaf.Verify(opts); err != nil {
		return rec, false, err
	}
	rec, err = s.inventoryRecord(ctx, leaf, ps)
	return rec, true, err
}

// peer returns the client's leaf certificate and verify options with the
// certificates it sent after it as intermediates.
func (s *Server) peer(r *http.Request) (*x509.Certificate, x509.VerifyOptions, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, x509.VerifyOptions{}, errs.New(errs.Unauthorized, "no TLS client certificate")
	}
	certs := r.TLS.PeerCertificates
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	return certs[0], x509.VerifyOptions{Intermediates: inter, CurrentTime: s.now()}, nil
}

// inventoryRecord finds a gateway-issued client certificate in the
// inventory and checks that it may speak for this profile.
func (s *Server) inventoryRecord(ctx context.Context, cert *x509.Certificate, ps *profileState) (storage.Certificate, error) {
	return ca.IssuedRecord(ctx, s.store, cert, ps.name)
}

// checkBoundNames enforces BindCSRToClientCert: every name of the CSR must
// be one of the client certificate's. A common name may match any name of
// the certificate, and a SAN may match the certificate's common name, since
// manufacturer certificates often carry the device's identity in the CN
// alone.
func checkBoundNames(ps *profileState, id identity, csr *x509.CertificateRequest) error {
	if !ps.set.BindCSRToClientCert || id.cert == nil {
		return nil
	}
	have := ca.CertIdentifiers(id.cert)
	cn := strings.ToLower(id.cert.Subject.CommonName)
	for _, n := range slices.Sorted(maps.Keys(ca.CSRIdentifiers(csr))) {
		typ, val, _ := strings.Cut(n, ":")
		switch {
		case have[n]:
		case typ == "cn" && (have["dns:"+val] || have["email:"+val] || have["ip:"+val] || have["uri:"+val]):
		case typ != "cn" && cn != "" && val == cn:
		default:
			return errs.New(errs.Forbidden, "profile %s binds requests to the client certificate, which does not carry the CSR's %s", ps.name, n)
		}
	}
	return nil
}

// checkSameNames enforces RFC 7030 section 4.2.2 for simplereenroll: "the
// Subject field and SubjectAltName extension MUST be identical to the
// corresponding fields in the certificate being renewed". The subject is
// what the profile p makes of each (ca.Profile.Subject: the common name
// and the attributes a request may set, besides the profile's fixed
// ones), compared by value (RFC 4514 form), not by encoding, since a CSR
// made by openssl encodes strings as UTF8String where the gateway wrote
// PrintableString; so a device that sends only what it chose, without the
// attributes the profile fixes, renews. The SANs are compared as sets.
func checkSameNames(p *ca.Profile, cert *x509.Certificate, csr *x509.CertificateRequest) error {
	got, err := p.Subject(csr.Subject.CommonName, csr.Subject)
	if err != nil {
		return err
	}
	want, err := p.Subject(cert.Subject.CommonName, cert.Subject)
	if err != nil {
		return err
	}
	if got, want := got.String(), want.String(); got != want {
		return errs.New(errs.BadCSR, "re-enrollment must keep the subject: the CSR has %q, the certificate %q (RFC 7030 section 4.2.2)", got, want)
	}
	sans := func(m map[string]bool) string {
		var l []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !strings.HasPrefix(k, "cn:") {
				l = append(l, k)
			}
		}
		return strings.Join(l, ", ")
	}
	if got, want := sans(ca.CSRIdentifiers(csr)), sans(ca.CertIdentifiers(cert)); got != want {
		return errs.New(errs.BadCSR, "re-enrollment must keep the subject alternative names: the CSR has [%s], the certificate [%s] (RFC 7030 section 4.2.2)", got, want)
	}
	return nil
}
