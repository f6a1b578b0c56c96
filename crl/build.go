package crl

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// Entry is one revoked certificate of a CRL.
type Entry struct {
	Serial    []byte // big-endian magnitude of the (positive) serial number
	RevokedAt time.Time
	Reason    int // RFC 5280 section 5.3.1 CRLReason, as stored
	// Removed, in a delta CRL only, lists a certificate that left the
	// CRL since the base (released from hold) with removeFromCRL.
	Removed bool
}

// Source emits the entries of one CRL, each serial once, in any order. It
// stops at the first error emit returns and returns it.
type Source func(ctx context.Context, emit func(Entry) error) error

// SliceSource emits entries, in their order.
func SliceSource(entries []Entry) Source {
	return func(ctx context.Context, emit func(Entry) error) error {
		for _, e := range entries {
			if err := emit(e); err != nil {
				return err
			}
		}
		return nil
	}
}

// Params are what distinguishes one CRL of a CA from the next.
type Params struct {
	Number     int64     // CRLNumber, from the store
	ThisUpdate time.Time // truncated to the second
	NextUpdate time.Time
	// SizeHint is the number of entries expected (0: unknown). With it the
	// encoder allocates its buffer once.
	SizeHint int
	// IDP, when set, makes the CRL a shard of a partitioned CRL: the URL
	// it is served at, named by its critical issuingDistributionPoint
	// (RFC 5280 5.2.5). The Source then emits the shard's entries only.
	IDP string
	// DeltaBase, when set, makes the CRL a delta CRL (RFC 5280 5.2.4):
	// its deltaCRLIndicator names this complete CRL as its base, and the
	// Source emits the revocations since.
	DeltaBase int64
	// Freshest, when set, is the URL of the delta CRLs that complete this
	// (complete, unpartitioned) CRL, named by its freshestCRL (5.2.6).
	Freshest string
}

// DefaultLintSample is how many entries the lint draft of a CRL carries at
// most; a CRL with no more entries than that is linted whole.
const DefaultLintSample = 1000

// Builder builds and signs full CRLs (RFC 5280 section 5), and the shards
// of partitioned ones (Params.IDP), passing each
// through the lint gate before the CA key signs it.
//
// Lint before signing: a draft of the CRL, signed by the Presigner's
// throwaway key of the CA key's type, is checked by the Linter first. The
// draft is made by x509.CreateRevocationList, whose TBSCertList the
// streaming encoder reproduces byte for byte (checked at run time whenever
// the draft holds every entry). For a CRL of more than LintSample entries,
// the draft holds the first LintSample entries plus one of each reason code
// seen, because building and linting a million-entry draft would take
// several times the memory the encoder saves. The lints that look at each
// entry (reason codes, revocation dates, serial sizes) are enforced for the
// others by the encoder itself: it accepts only RFC 5280 reason codes,
// serials of 1 to 20 octets, and revocation dates not after thisUpdate.
// Unique serials come from the store's primary key.
type Builder struct {
	Linter  *ca.Linter
	Presign *ca.Presigner
	// LintSample caps the entries of the lint draft; 0 means
	// DefaultLintSample.
	LintSample int
}

// EntryReason is the reason code a full CRL (and an OCSP response) gives
// for a certificate revoked with code: the code itself, except
// removeFromCRL (8), which RFC 5280 5.3.1 reserves for delta CRLs, where it
// marks an entry that left the CRL; on a certificate that stays revoked it
// says nothing more than unspecified, so the entry carries no reason.
func EntryReason(code int) int {
	if code == storage.ReasonRemoveFromCRL {
		return 0
	}
	return code
}

// Build streams the entries of src into a CRL of a, lints a draft, has the
// CA key sign it and checks the signature. It returns the DER.
func (b *Builder) Build(ctx context.Context, a *ca.Authority, p Params, src Source) ([]byte, error) {
	pub := a.Key.Public()
	sigAlg, err := ca.SignatureAlgorithmFor(pub)
	if err != nil {
		return nil, err
	}
	algID, err := algorithmIdentifier(sigAlg)
	if err != nil {
		return nil, errs.Wrap(errs.Config, err, "CA %s", a.Name)
	}
	// RFC 5280 5.2.1: the AKI is the issuer's subject key identifier; the
	// issuer must be allowed to sign CRLs (4.2.1.3).
	if len(a.Cert().SubjectKeyId) == 0 || a.Cert().KeyUsage&x509.KeyUsageCRLSign == 0 {
		return nil, errs.New(errs.Config, "CA %s: its certificate lacks a subject key identifier or the cRLSign key usage", a.Name)
	}
	if p.Number < 1 {
		return nil, errs.New(errs.Internal, "CRL number %d", p.Number)
	}
	this, next := p.ThisUpdate.UTC().Truncate(time.Second), p.NextUpdate.UTC().Truncate(time.Second)
	if !next.After(this) {
		return nil, errs.New(errs.Internal, "CRL nextUpdate %s is not after thisUpdate %s", next, this)
	}

	limit := b.LintSample
	if limit <= 0 {
		limit = DefaultLintSample
	}
	enc := newEncoder(tbsPrefix(algID, a.Cert().RawSubject, this, next), this, p.SizeHint)
	enc.delta = p.DeltaBase > 0
	var (
		sample   []x509.RevocationListEntry
		complete = true // sample holds every entry
		reasons  [11]bool
	)
	err = src(ctx, func(e Entry) error {
		reason := EntryReason(e.Reason)
		if e.Removed {
			reason = reasonRemoveFromCRL
		}
		if err := enc.add(e.Serial, e.RevokedAt, reason); err != nil {
			return errs.Wrap(errs.Internal, err, "CRL entry %x", e.Serial)
		}
		if len(sample) < limit || !reasons[reason] {
			at := e.RevokedAt.UTC()
			if at.After(this) {
				at = this
			}
			sample = append(sample, x509.RevocationListEntry{
				SerialNumber: new(big.Int).SetBytes(e.Serial), RevocationTime: at, ReasonCode: reason,
			})
			reasons[reason] = true
		} else {
			complete = false
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Further extensions, in the encoder's DER and as the lint draft's
	// ExtraExtensions, in the same order.
	var (
		exts  [][]byte
		extra []pkix.Extension
	)
	if p.IDP != "" {
		exts = append(exts, idpExtension(p.IDP))
		extra = append(extra, pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 28}, Critical: true, Value: idpValue(p.IDP)})
	}
	if p.DeltaBase > 0 {
		exts = append(exts, deltaExtension(p.DeltaBase))
		extra = append(extra, pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 27}, Critical: true, Value: appendInt64(nil, p.DeltaBase)})
	}
	if p.Freshest != "" {
		exts = append(exts, freshestExtension(p.Freshest))
		extra = append(extra, pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 46}, Value: freshestValue(p.Freshest)})
	}
	tbs := enc.finish(crlExtensions(a.Cert().SubjectKeyId, p.Number, exts...))

	// The lint gate, before the HSM is asked.
	draft, err := b.Presign.PreSignRevocationList(&x509.RevocationList{
		SignatureAlgorithm:        sigAlg,
		RevokedCertificateEntries: sample,
		Number:                    big.NewInt(p.Number),
		ThisUpdate:                this,
		NextUpdate:                next,
		ExtraExtensions:           extra,
	}, a.Cert(), pub)
	if err != nil {
		return nil, err
	}
	if err := b.Linter.LintRevocationList(draft); err != nil {
		return nil, err
	}
	if complete {
		parsed, err := x509.ParseRevocationList(draft)
		if err != nil {
			return nil, errs.Wrap(errs.Internal, err, "parse the CRL draft")
		}
		if !bytes.Equal(parsed.RawTBSRevocationList, tbs) {
			return nil, errs.New(errs.Internal, "the encoded CRL differs from the linted draft")
		}
	}

	sig, err := signTBS(ctx, a, sigAlg, tbs)
	if err != nil {
		return nil, err
	}
	return enc.sign(algID, sig)
}

// signTBS has the CA key sign tbs and checks the signature against the
// CA's public key, so that a faulty token cannot publish a CRL that no
// relying party accepts.
func signTBS(ctx context.Context, a *ca.Authority, alg x509.SignatureAlgorithm, tbs []byte) ([]byte, error) {
	var hash crypto.Hash
	switch alg {
	case x509.ECDSAWithSHA256, x509.SHA256WithRSA:
		hash = crypto.SHA256
	case x509.ECDSAWithSHA384, x509.SHA384WithRSA:
		hash = crypto.SHA384
	case x509.ECDSAWithSHA512, x509.SHA512WithRSA:
		hash = crypto.SHA512
	case x509.PureEd25519:
		sig, err := a.Key.SignContext(ctx, tbs, crypto.Hash(0))
		if err != nil {
			return nil, errs.Wrap(errs.KindOf(err), err, "sign CRL")
		}
		if !ed25519.Verify(a.Key.Public().(ed25519.PublicKey), tbs, sig) {
			return nil, errs.New(errs.Internal, "the CA key returned an invalid CRL signature")
		}
		return sig, nil
	default:
		return nil, errs.New(errs.Config, "unsupported signature algorithm %v", alg)
	}
	h := hash.New()
	h.Write(tbs)
	digest := h.Sum(nil)
	sig, err := a.Key.SignContext(ctx, digest, hash)
	if err != nil {
		return nil, errs.Wrap(errs.KindOf(err), err, "sign CRL")
	}
	ok := false
	switch k := a.Key.Public().(type) {
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(k, digest, sig)
	case *rsa.PublicKey:
		ok = rsa.VerifyPKCS1v15(k, hash, digest, sig) == nil
	}
	if !ok {
		return nil, errs.New(errs.Internal, "the CA key returned an invalid CRL signature")
	}
	return sig, nil
}
