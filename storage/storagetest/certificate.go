package storagetest

import (
	"bytes"
	"context"
	"encoding/pem"
	"reflect"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// withCA returns a fresh store holding a root CA named "root", which the
// certificates of the suite are issued by.
func withCA(t *testing.T, open func(t *testing.T) storage.Store) (storage.Store, context.Context) {
	t.Helper()
	s, ctx := open(t), t.Context()
	must(t, "InsertCA(root)", s.InsertCA(ctx, rootCA("root", base), Event("init-ca", "")))
	return s, ctx
}

func pendingCert(serial string) storage.Certificate {
	return storage.Certificate{
		Serial:    serial,
		CA:        "root",
		Profile:   "default",
		Method:    "acme",
		Requester: "acct/1",
		SANs:      []string{"example.com", "*.example.net", "192.0.2.1", "2001:db8::1", "admin@example.com"},
		NotBefore: base,
		NotAfter:  base.Add(90 * 24 * time.Hour),
		CreatedAt: base,
	}
}

// normCert is what a store returns for c after InsertPendingCertificate.
func normCert(c storage.Certificate) storage.Certificate {
	c.Status = storage.StatusPending
	c.DER = nil
	c.NotBefore = normTime(c.NotBefore)
	c.NotAfter = normTime(c.NotAfter)
	c.CreatedAt = normTime(c.CreatedAt)
	c.RenewAt = normTime(c.RenewAt) // the zero time stays zero
	if len(c.KeyPEM) == 0 {
		c.KeyPEM = nil
	}
	if len(c.Chain) == 0 {
		c.Chain = nil
	}
	return c
}

// renewable is pendingCert with every field of server-driven renewal set.
func renewable(serial string) storage.Certificate {
	c := pendingCert(serial)
	c.KeyPEM = []byte("-----BEGIN SEALED KEY-----\n\x00\xffopaque\n-----END SEALED KEY-----\n")
	c.AutoRenew = true
	c.RenewAt = base.Add(60 * 24 * time.Hour)
	c.Subject = "CN=example.com,O=Example\\, Inc.,C=DE"
	return c
}

// activate stores c, activates it with c's own validity and testDER(7), and
// returns what a store returns for it from then on.
func activate(t *testing.T, s storage.Store, ctx context.Context, c storage.Certificate) storage.Certificate {
	t.Helper()
	must(t, "InsertPendingCertificate("+c.Serial+")", s.InsertPendingCertificate(ctx, c))
	must(t, "ActivateCertificate("+c.Serial+")", s.ActivateCertificate(ctx, c.Serial, testDER(7), c.NotBefore, c.NotAfter))
	want := normCert(c)
	want.Status = storage.StatusActive
	want.DER = testDER(7)
	return want
}

func checkCertUTC(t *testing.T, c storage.Certificate) {
	t.Helper()
	checkUTC(t, "NotBefore", c.NotBefore)
	checkUTC(t, "NotAfter", c.NotAfter)
	checkUTC(t, "CreatedAt", c.CreatedAt)
	if !c.RenewAt.IsZero() {
		checkUTC(t, "RenewAt", c.RenewAt)
	}
	if !c.RevokedAt.IsZero() {
		checkUTC(t, "RevokedAt", c.RevokedAt)
	}
}

func testCertificate(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("PendingRoundTrip", func(t *testing.T) {
		s, ctx := withCA(t, open)
		noSANs := pendingCert("02")
		noSANs.SANs = nil
		// RFC 5280 section 4.1.2.5: 99991231235959Z means "no expiry", and
		// 1950 is the earliest UTCTime; both must survive.
		extremes := pendingCert("0abcdef0123456789abcdef012345678")
		extremes.NotBefore = time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)
		extremes.NotAfter = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
		withRenewal := renewable("03")
		withRenewal.Replaces = "0abc"
		withRenewal.RenewedBy = "0def"
		emptyKey := renewable("04")
		emptyKey.KeyPEM = []byte{}
		for _, c := range []storage.Certificate{pendingCert("01"), noSANs, extremes, withRenewal, emptyKey} {
			must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, c))
			got, err := s.GetCertificate(ctx, c.Serial)
			must(t, "GetCertificate", err)
			if want := normCert(c); !reflect.DeepEqual(got, want) {
				t.Errorf("GetCertificate(%s) =\n%+v\nwant\n%+v", c.Serial, got, want)
			}
			checkCertUTC(t, got)
		}
	})

	t.Run("Chain", func(t *testing.T) { testChain(t, open) })

	t.Run("PendingIgnoresStatusAndDER", func(t *testing.T) {
		s, ctx := withCA(t, open)
		c := pendingCert("01")
		c.Status = storage.StatusActive
		c.DER = testDER(3)
		must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, c))
		got, err := s.GetCertificate(ctx, c.Serial)
		must(t, "GetCertificate", err)
		if got.Status != storage.StatusPending || got.DER != nil {
			t.Errorf("GetCertificate() status = %q, DER = %d bytes; want pending and nil", got.Status, len(got.DER))
		}
	})

	t.Run("DuplicateSerial", func(t *testing.T) {
		s, ctx := withCA(t, open)
		must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, pendingCert("01")))
		other := pendingCert("01")
		other.Profile = "other"
		wantKind(t, "second InsertPendingCertificate", s.InsertPendingCertificate(ctx, other), errs.Conflict)
		got, err := s.GetCertificate(ctx, "01")
		must(t, "GetCertificate", err)
		if got.Profile != "default" {
			t.Errorf("the duplicate overwrote the first row: profile = %q", got.Profile)
		}
	})

	t.Run("UnknownCA", func(t *testing.T) {
		s, ctx := withCA(t, open)
		c := pendingCert("01")
		c.CA = "no-such-ca"
		wantKind(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, c), errs.NotFound)
	})

	t.Run("SerialNotLowercaseHex", func(t *testing.T) {
		s, ctx := withCA(t, open)
		for _, serial := range []string{"", "0A", "0a:0b", "xyz"} {
			if err := s.InsertPendingCertificate(ctx, pendingCert(serial)); err == nil {
				t.Errorf("InsertPendingCertificate(serial %q) succeeded", serial)
			}
		}
	})

	t.Run("GetNotFound", func(t *testing.T) {
		s, ctx := withCA(t, open)
		_, err := s.GetCertificate(ctx, "01")
		wantKind(t, "GetCertificate", err, errs.NotFound)
	})

	t.Run("Activate", func(t *testing.T) {
		s, ctx := withCA(t, open)
		c := pendingCert("01")
		must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, c))
		der := testDER(4)
		notBefore, notAfter := base.Add(-time.Minute), base.Add(24*time.Hour+time.Nanosecond)
		must(t, "ActivateCertificate", s.ActivateCertificate(ctx, c.Serial, der, notBefore, notAfter))

		got, err := s.GetCertificate(ctx, c.Serial)
		must(t, "GetCertificate", err)
		want := normCert(c)
		want.Status = storage.StatusActive
		want.DER = der
		want.NotBefore, want.NotAfter = normTime(notBefore), normTime(notAfter)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetCertificate() after activation =\n%+v\nwant\n%+v", got, want)
		}
		checkCertUTC(t, got)
	})

	t.Run("ActivateTwice", func(t *testing.T) {
		s, ctx := withCA(t, open)
		must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, pendingCert("01")))
		must(t, "ActivateCertificate", s.ActivateCertificate(ctx, "01", testDER(4), base, base.Add(time.Hour)))
		err := s.ActivateCertificate(ctx, "01", testDER(5), base, base.Add(2*time.Hour))
		wantKind(t, "second ActivateCertificate", err, errs.Conflict)
		got, err := s.GetCertificate(ctx, "01")
		must(t, "GetCertificate", err)
		if !reflect.DeepEqual(got.DER, testDER(4)) {
			t.Errorf("the second activation replaced the DER")
		}
	})

	t.Run("ActivateNotFound", func(t *testing.T) {
		s, ctx := withCA(t, open)
		err := s.ActivateCertificate(ctx, "01", testDER(4), base, base.Add(time.Hour))
		wantKind(t, "ActivateCertificate", err, errs.NotFound)
	})

	t.Run("ActivateEmptyDER", func(t *testing.T) {
		s, ctx := withCA(t, open)
		must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, pendingCert("01")))
		if err := s.ActivateCertificate(ctx, "01", nil, base, base.Add(time.Hour)); err == nil {
			t.Errorf("ActivateCertificate() with no DER succeeded")
		}
		got, err := s.GetCertificate(ctx, "01")
		must(t, "GetCertificate", err)
		if got.Status != storage.StatusPending {
			t.Errorf("status = %q after a failed activation, want pending", got.Status)
		}
	})
}

// upstreamCA is the cas row of an upstream (an external ACME CA), as the
// caller stores it so that the upstream's certificates have a CA to name:
// no certificate of its own, and the directory in the key URI.
func upstreamCA(name string) storage.CA {
	return storage.CA{Name: name, KeyURI: "acme:https://acme.example/" + name + "/directory", CertDER: []byte{}, CreatedAt: base}
}

// testChain checks that the issuer chain of a certificate from an upstream
// is stored with its pending record and comes back, byte for byte, from
// every read, whichever way it was activated; and that a certificate
// without one has none.
func testChain(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := withCA(t, open)
	must(t, "InsertCA(upstream)", s.InsertCA(ctx, upstreamCA("le"), Event("upstream-add", "")))
	chain := func(seed byte) []byte {
		return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: testDER(seed)}),
			pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: testDER(seed + 1)})...)
	}
	fromUpstream := func(serial string, seed byte) storage.Certificate {
		c := renewable(serial)
		c.CA, c.Method, c.Chain = "le", "api", chain(seed)
		return c
	}

	// Pending, then completed: CompleteIssuance.
	completed := fromUpstream("c1", 1)
	must(t, "InsertPendingCertificate(c1)", s.InsertPendingCertificate(ctx, completed))
	got, err := s.GetCertificate(ctx, "c1")
	must(t, "GetCertificate(c1)", err)
	if want := normCert(completed); !reflect.DeepEqual(got, want) {
		t.Errorf("GetCertificate(c1) while pending =\n%+v\nwant\n%+v", got, want)
	}
	pending, err := s.PendingCertificates(ctx, base.Add(time.Hour), 10)
	must(t, "PendingCertificates", err)
	if len(pending) != 1 || !bytes.Equal(pending[0].Chain, completed.Chain) {
		t.Errorf("PendingCertificates() = %+v, want c1 with its chain", pending)
	}
	_, err = s.CompleteIssuance(ctx, issueEvent(completed, testDER(4)), "c1", testDER(4), completed.NotBefore, completed.NotAfter)
	must(t, "CompleteIssuance(c1)", err)
	wantCompleted := normCert(completed)
	wantCompleted.Status, wantCompleted.DER = storage.StatusActive, testDER(4)

	// Pending, then activated: ActivateCertificate (the reconcile step).
	activated := fromUpstream("c2", 3)
	activated.CreatedAt = base.Add(time.Second)
	wantActivated := activate(t, s, ctx, activated)

	// The gateway's own CA: no chain, given as nil or as empty.
	own := renewable("c3")
	own.CreatedAt = base.Add(2 * time.Second)
	wantOwn := activate(t, s, ctx, own)
	emptyChain := renewable("c4")
	emptyChain.CreatedAt = base.Add(3 * time.Second)
	emptyChain.Chain = []byte{}
	wantEmpty := activate(t, s, ctx, emptyChain)

	for _, want := range []storage.Certificate{wantCompleted, wantActivated, wantOwn, wantEmpty} {
		got, err := s.GetCertificate(ctx, want.Serial)
		must(t, "GetCertificate("+want.Serial+")", err)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetCertificate(%s) =\n%+v\nwant\n%+v", want.Serial, got, want)
		}
	}
	if wantOwn.Chain != nil || wantEmpty.Chain != nil {
		t.Fatalf("normCert keeps an empty chain")
	}

	list, next, err := s.ListCertificates(ctx, storage.CertificateFilter{})
	must(t, "ListCertificates", err)
	if want := []storage.Certificate{wantEmpty, wantOwn, wantActivated, wantCompleted}; !reflect.DeepEqual(list, want) || next != "" {
		t.Errorf("ListCertificates() =\n%+v, %q\nwant\n%+v, \"\"", list, next, want)
	}
	latest, err := s.LatestCertificate(ctx, "default", base)
	must(t, "LatestCertificate", err)
	if !reflect.DeepEqual(latest, wantEmpty) {
		t.Errorf("LatestCertificate() =\n%+v\nwant\n%+v", latest, wantEmpty)
	}
	due, err := s.DueForRenewal(ctx, completed.RenewAt, 10)
	must(t, "DueForRenewal", err)
	if want := []storage.Certificate{wantCompleted, wantActivated, wantOwn, wantEmpty}; !reflect.DeepEqual(due, want) {
		t.Errorf("DueForRenewal() =\n%+v\nwant\n%+v", due, want)
	}
}
