package storagetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

func rootCA(name string, created time.Time) storage.CA {
	return storage.CA{
		Name:      name,
		KeyURI:    "pkcs11:token=gateway;object=" + name + ";type=private",
		CertDER:   testDER(1),
		CreatedAt: created,
	}
}

func normCA(ca storage.CA) storage.CA {
	ca.CreatedAt = normTime(ca.CreatedAt)
	return ca
}

func testCA(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("RoundTrip", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		root := rootCA("root", base)
		issuing := storage.CA{
			Name:      "issuing",
			Parent:    "root",
			KeyURI:    "/var/lib/gateway/issuing.key",
			CertDER:   testDER(2),
			CreatedAt: base.Add(time.Minute),
		}
		must(t, "InsertCA(root)", s.InsertCA(ctx, root, Event("init-ca", "")))
		must(t, "InsertCA(issuing)", s.InsertCA(ctx, issuing, Event("init-ca", "")))
		for _, want := range []storage.CA{root, issuing} {
			got, err := s.GetCA(ctx, want.Name)
			must(t, "GetCA", err)
			if !reflect.DeepEqual(got, normCA(want)) {
				t.Errorf("GetCA(%q) =\n%+v\nwant\n%+v", want.Name, got, normCA(want))
			}
			checkUTC(t, "CA.CreatedAt", got.CreatedAt)
		}
	})

	// An upstream (an external ACME CA) is stored as a CA without a
	// certificate of its own, so that its certificates have a CA to name
	// (see upstreamCA). cert_der is NOT NULL: the empty certificate must be
	// stored as empty, not as NULL, and comes back nil like every empty
	// byte slice.
	t.Run("EmptyCertificate", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		le := upstreamCA("le")
		must(t, "InsertCA(empty certificate)", s.InsertCA(ctx, le, Event("upstream-add", "")))
		want := normCA(le)
		want.CertDER = nil
		got, err := s.GetCA(ctx, "le")
		must(t, "GetCA", err)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetCA() =\n%+v\nwant\n%+v", got, want)
		}
		cas, err := s.ListCAs(ctx)
		must(t, "ListCAs", err)
		if !reflect.DeepEqual(cas, []storage.CA{want}) {
			t.Errorf("ListCAs() =\n%+v\nwant\n%+v", cas, []storage.CA{want})
		}
	})

	t.Run("DuplicateName", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, "InsertCA", s.InsertCA(ctx, rootCA("root", base), Event("init-ca", "")))
		wantKind(t, "second InsertCA", s.InsertCA(ctx, rootCA("root", base.Add(time.Hour)), Event("init-ca", "")), errs.Conflict)
	})

	t.Run("UnknownParent", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		ca := rootCA("issuing", base)
		ca.Parent = "no-such-root"
		wantKind(t, "InsertCA", s.InsertCA(ctx, ca, Event("init-ca", "")), errs.NotFound)
	})

	// A renewal replaces the certificate and nothing else, once: a second
	// renewal that read the same certificate loses.
	t.Run("ReplaceCertificate", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		root := rootCA("root", base)
		must(t, "InsertCA", s.InsertCA(ctx, root, Event("init-ca", "")))
		must(t, "ReplaceCACertificate", s.ReplaceCACertificate(ctx, "root", root.CertDER, testDER(5), nil, Event("renew-ca", "")))
		wantKind(t, "second ReplaceCACertificate from the same certificate",
			s.ReplaceCACertificate(ctx, "root", root.CertDER, testDER(6), nil, Event("renew-ca", "")), errs.Conflict)
		want := normCA(root)
		want.CertDER = testDER(5)
		got, err := s.GetCA(ctx, "root")
		must(t, "GetCA", err)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetCA() after renewal =\n%+v\nwant\n%+v", got, want)
		}
	})

	// A CA certified by an external CA keeps the chain above it, and a
	// certificate imported later replaces certificate and chain together;
	// a certificate the gateway renews leaves no chain.
	t.Run("ExternalChain", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		ext := rootCA("issuing", base)
		ext.Chain = append(testDER(7), testDER(8)...)
		must(t, "InsertCA", s.InsertCA(ctx, ext, Event("import-ca", "")))
		got, err := s.GetCA(ctx, "issuing")
		must(t, "GetCA", err)
		if !reflect.DeepEqual(got, normCA(ext)) {
			t.Errorf("GetCA() =\n%+v\nwant\n%+v", got, normCA(ext))
		}
		must(t, "ReplaceCACertificate with a chain", s.ReplaceCACertificate(ctx, "issuing", ext.CertDER, testDER(5), testDER(9), Event("import-ca", "")))
		want := normCA(ext)
		want.CertDER, want.Chain = testDER(5), testDER(9)
		cas, err := s.ListCAs(ctx)
		must(t, "ListCAs", err)
		if !reflect.DeepEqual(cas, []storage.CA{want}) {
			t.Errorf("ListCAs() after import =\n%+v\nwant\n%+v", cas, []storage.CA{want})
		}
		must(t, "ReplaceCACertificate without a chain", s.ReplaceCACertificate(ctx, "issuing", testDER(5), testDER(6), nil, Event("renew-ca", "")))
		want.CertDER, want.Chain = testDER(6), nil
		got, err = s.GetCA(ctx, "issuing")
		must(t, "GetCA", err)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetCA() after a renewal without a chain =\n%+v\nwant\n%+v", got, want)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		_, err := s.GetCA(ctx, "root")
		wantKind(t, "GetCA", err, errs.NotFound)
	})

	t.Run("ListOrder", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		if cas, err := s.ListCAs(ctx); err != nil || len(cas) != 0 {
			t.Fatalf("ListCAs() on an empty store = %v, %v; want none", cas, err)
		}
		sub := func(name string) storage.CA {
			ca := rootCA(name, base.Add(time.Hour))
			ca.Parent = "root"
			return ca
		}
		// Inserted out of order; b-sub and a-sub share a creation time.
		for _, ca := range []storage.CA{rootCA("root", base), sub("b-sub"), sub("a-sub"), rootCA("early", base.Add(-time.Hour))} {
			must(t, "InsertCA("+ca.Name+")", s.InsertCA(ctx, ca, Event("init-ca", "")))
		}
		cas, err := s.ListCAs(ctx)
		must(t, "ListCAs", err)
		var got []string
		for _, ca := range cas {
			got = append(got, ca.Name)
		}
		want := []string{"early", "root", "a-sub", "b-sub"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ListCAs() names = %v, want %v (by CreatedAt, then Name)", got, want)
		}
		if len(cas) == 4 && !reflect.DeepEqual(cas[2], normCA(sub("a-sub"))) {
			t.Errorf("ListCAs()[2] = %+v, want %+v", cas[2], normCA(sub("a-sub")))
		}
	})
}
