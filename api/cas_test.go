package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/storage"
)

type caEntry struct {
	Name, Parent, Serial, Subject, Certificate string
	ServingSerial                              string `json:"serving_serial"`
	DaysLeft                                   int    `json:"days_left"`
}

type casPage struct {
	CAs []caEntry `json:"cas"`
}

// byName finds a CA in the list.
func (p casPage) byName(name string) caEntry {
	for _, c := range p.CAs {
		if c.Name == name {
			return c
		}
	}
	return caEntry{}
}

// GET /api/v1/cas lists the CAs with their certificates and days left, and
// names the certificate a gateway still serves after a renewal in the store.
func TestListCAs(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		if r := e.do("GET", "/api/v1/cas", "", nil); r.status != http.StatusUnauthorized {
			t.Fatalf("without a token: %d", r.status)
		}
		var p casPage
		e.do("GET", "/api/v1/cas", reader, nil).decode(t, http.StatusOK, &p)
		if len(p.CAs) != 2 || p.byName("root").Parent != "" || p.byName("issuing").Parent != "root" {
			t.Fatalf("GET /cas: %+v", p)
		}
		issuing := e.core.CAs["issuing"].Cert()
		got := p.byName("issuing")
		if certs := parseCerts(t, got.Certificate); got.Serial != ca.SerialHex(issuing.SerialNumber) || len(certs) != 1 || !issuing.Equal(certs[0]) ||
			got.DaysLeft < 5*365-1 || got.DaysLeft > 5*365 || got.ServingSerial != "" || got.Subject != issuing.Subject.String() {
			t.Errorf("issuing: %+v", got)
		}

		// Another certificate in the store (as `gateway ca renew` leaves
		// it): this gateway still signs under the one it loaded.
		root := e.core.CAs["root"].Cert()
		if err := e.store.ReplaceCACertificate(context.Background(), "issuing", issuing.Raw, root.Raw, storage.AuditEvent{At: e.t0, Actor: "test", Action: "renew-ca"}); err != nil {
			t.Fatal(err)
		}
		e.do("GET", "/api/v1/cas", reader, nil).decode(t, http.StatusOK, &p)
		if got := p.byName("issuing"); got.Serial != ca.SerialHex(root.SerialNumber) || got.ServingSerial != ca.SerialHex(issuing.SerialNumber) {
			t.Errorf("after a renewal in the store: %+v", got)
		}
	})
}
