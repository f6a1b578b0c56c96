package scep

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
	"github.com/smallstep/scep"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// A profile that holds SCEP enrollments answers PENDING (RFC 8894 section
// 3.3.2); the device resends its PKCSReq (as the micromdm client does)
// without a second challenge, the one it had being spent on the request,
// and gets SUCCESS once an operator approves, FAILURE once one rejects.
func TestHeldEnrollment(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		ctx := context.Background()
		f.getCACert("held")
		challenge := func() string {
			c, _, err := CreateChallenge(ctx, st, "held", "tester", f.clock.Now(), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		before := f.countCerts() // the RA's
		d := newDevice(t, rsaKey(t))
		raw := f.message(d, scep.PKCSReq, d.csr(t, "printer.example.com", challenge(), "printer.example.com"), nil)
		for i := range 2 {
			rep := f.pkiOperation("held", d, raw)
			if rep.PKIStatus != scep.PENDING {
				t.Fatalf("attempt %d: %s %s, want PENDING", i, rep.PKIStatus, rep.FailInfo)
			}
		}
		if n := f.countCerts(); n != before {
			t.Fatalf("%d certificates after a held enrollment", n-before)
		}
		reqs, err := st.ListRequests(ctx, storage.RequestFilter{Profile: "held"})
		if err != nil || len(reqs) != 1 || reqs[0].Status != storage.RequestPending || reqs[0].TransactionID == "" ||
			reqs[0].Requester != "scep one-time challenge" {
			t.Fatalf("requests %+v %v", reqs, err)
		}
		// Another CSR does not ride on the spent challenge.
		d2 := newDevice(t, rsaKey(t))
		if rep := f.pkiOperation("held", d2, f.message(d2, scep.PKCSReq, d2.csr(t, "x.example.com", "", "x.example.com"), nil)); rep.PKIStatus != scep.FAILURE {
			t.Fatalf("a new CSR without a challenge: %s", rep.PKIStatus)
		}

		issued, err := f.env.Core.Approve(ctx, reqs[0].ID, "operator")
		if err != nil {
			t.Fatal(err)
		}
		rep := f.pkiOperation("held", d, raw)
		if rep.PKIStatus != scep.SUCCESS || rep.CertRepMessage.Certificate.SerialNumber.Cmp(issued.Cert.SerialNumber) != 0 {
			t.Fatalf("resend after approval: %s, want SUCCESS with the approved certificate", rep.PKIStatus)
		}

		// Rejected: FAILURE.
		d3 := newDevice(t, rsaKey(t))
		raw3 := f.message(d3, scep.PKCSReq, d3.csr(t, "cam.example.com", challenge(), "cam.example.com"), nil)
		if rep := f.pkiOperation("held", d3, raw3); rep.PKIStatus != scep.PENDING {
			t.Fatalf("second device: %s", rep.PKIStatus)
		}
		reqs, _ = st.ListRequests(ctx, storage.RequestFilter{Profile: "held", Status: storage.RequestPending})
		if len(reqs) != 1 {
			t.Fatalf("pending %+v", reqs)
		}
		if _, err := f.env.Core.Reject(ctx, reqs[0].ID, "operator", "unknown camera"); err != nil {
			t.Fatal(err)
		}
		if rep := f.pkiOperation("held", d3, raw3); rep.PKIStatus != scep.FAILURE || rep.FailInfo != scep.BadRequest {
			t.Fatalf("resend after rejection: %s %s", rep.PKIStatus, rep.FailInfo)
		}
	})
}

// certPoll makes a CertPoll (RFC 8894 section 3.3.2) for transactionID,
// signed by d: an envelope to the RA holding IssuerAndSubject (the CA's
// name and the requested subject), and the SCEP attributes.
func (f *fixture) certPoll(d *device, transactionID string) []byte {
	f.t.Helper()
	ias, err := asn1.Marshal(struct {
		Issuer, Subject asn1.RawValue
	}{asn1.RawValue{FullBytes: f.chain[1].RawSubject}, asn1.RawValue{FullBytes: d.cert.RawSubject}})
	if err != nil {
		f.t.Fatal(err)
	}
	return f.signedMessage(d, scep.CertPoll, transactionID, ias)
}

// signedMessage makes a pkiMessage of type typ that the scep library
// does not make: messageData in an envelope to the RA, signed by d with
// the SCEP attributes.
func (f *fixture) signedMessage(d *device, typ scep.MessageType, transactionID string, messageData []byte) []byte {
	f.t.Helper()
	env, err := pkcs7.Encrypt(messageData, []*x509.Certificate{f.ra})
	if err != nil {
		f.t.Fatal(err)
	}
	sd, err := pkcs7.NewSignedData(env)
	if err != nil {
		f.t.Fatal(err)
	}
	sd.AddCertificate(d.cert)
	nonce := make([]byte, 16)
	rand.Read(nonce)
	err = sd.AddSigner(d.cert, d.key, pkcs7.SignerInfoConfig{ExtraSignedAttributes: []pkcs7.Attribute{
		{Type: oidTransactionID, Value: scep.TransactionID(transactionID)},
		{Type: oidMessageType, Value: typ},
		{Type: oidSenderNonce, Value: scep.SenderNonce(nonce)},
	}})
	if err != nil {
		f.t.Fatal(err)
	}
	der, err := sd.Finish()
	if err != nil {
		f.t.Fatal(err)
	}
	return der
}

// A device told PENDING may poll with CertPoll instead of resending its
// request; only the key of the request may poll it.
func TestCertPoll(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		ctx := context.Background()
		f.getCACert("held")
		c, _, err := CreateChallenge(ctx, st, "held", "tester", f.clock.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		d := newDevice(t, rsaKey(t))
		if rep := f.pkiOperation("held", d, f.message(d, scep.PKCSReq, d.csr(t, "meter.example.com", c, "meter.example.com"), nil)); rep.PKIStatus != scep.PENDING {
			t.Fatalf("PKCSReq: %s", rep.PKIStatus)
		}
		reqs, err := st.ListRequests(ctx, storage.RequestFilter{Profile: "held"})
		if err != nil || len(reqs) != 1 {
			t.Fatalf("requests %+v %v", reqs, err)
		}
		tid := reqs[0].TransactionID
		if rep := f.pkiOperation("held", d, f.certPoll(d, tid)); rep.PKIStatus != scep.PENDING {
			t.Fatalf("CertPoll while pending: %s %s", rep.PKIStatus, rep.FailInfo)
		}
		stranger := newDevice(t, rsaKey(t))
		if rep := f.pkiOperation("held", stranger, f.certPoll(stranger, tid)); rep.PKIStatus != scep.FAILURE || rep.FailInfo != scep.BadMessageCheck {
			t.Fatalf("CertPoll by another key: %s %s", rep.PKIStatus, rep.FailInfo)
		}
		if rep := f.pkiOperation("held", d, f.certPoll(d, "no-such-transaction")); rep.PKIStatus != scep.FAILURE || rep.FailInfo != scep.BadCertID {
			t.Fatalf("CertPoll of an unknown transaction: %s %s", rep.PKIStatus, rep.FailInfo)
		}
		issued, err := f.env.Core.Approve(ctx, reqs[0].ID, "operator")
		if err != nil {
			t.Fatal(err)
		}
		rep := f.pkiOperation("held", d, f.certPoll(d, tid))
		if rep.PKIStatus != scep.SUCCESS || rep.CertRepMessage.Certificate.SerialNumber.Cmp(issued.Cert.SerialNumber) != 0 {
			t.Fatalf("CertPoll after approval: %s, want SUCCESS with the approved certificate", rep.PKIStatus)
		}
		if string(rep.TransactionID) != tid {
			t.Errorf("CertRep transactionID %q, want %q", rep.TransactionID, tid)
		}
		// A garbled poll is a 400, as any message that does not verify.
		raw := f.certPoll(d, tid)
		raw[len(raw)-5] ^= 0xff
		if a := f.do("POST", "/scep/held?operation=PKIOperation", raw); a.status != 400 {
			t.Fatalf("garbled CertPoll: %d", a.status)
		}
	})
}
