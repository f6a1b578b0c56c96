package est

import (
	"bytes"
	encasn1 "encoding/asn1"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/certgw/gateway/errs"
)

// Object identifiers of the CSR attributes answer.
var (
	oidECPublicKey      = encasn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}    // RFC 5480 section 2.1.1
	oidP256             = encasn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7} // secp256r1
	oidP384             = encasn1.ObjectIdentifier{1, 3, 132, 0, 34}          // secp384r1
	oidRSAEncryption    = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidEd25519          = encasn1.ObjectIdentifier{1, 3, 101, 112} // RFC 8410
	oidExtensionRequest = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 14}
	oidSubjectAltName   = encasn1.ObjectIdentifier{2, 5, 29, 17}
)

// csrattrsHandler answers GET csrattrs (RFC 7030 section 4.5): what the
// profile wants in a CSR, or 204 when it wants nothing in particular.
func (s *Server) csrattrsHandler(w http.ResponseWriter, r *http.Request, ps *profileState) {
	if ps.csrattrs == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeBase64(w, mediaCSRAttrs, ps.csrattrs)
}

// csrAttrs encodes what a profile wants of a CSR (RFC 7030 section 4.5.2):
//
//	CsrAttrs ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID
//	AttrOrOID ::= CHOICE (oid OBJECT IDENTIFIER, attribute Attribute }
//
// In the forms of the RFC's own example: challengePassword when the profile
// requires channel binding; the key types it allows, as id-ecPublicKey
// with the allowed curves, rsaEncryption with the allowed modulus sizes as
// INTEGER values, and id-Ed25519; an extensionRequest for subjectAltName,
// since every profile needs at least one SAN; and the types of the subject
// attributes the profile takes from a CSR. It returns nil when there is
// nothing to say.
func csrAttrs(ps *profileState) ([]byte, error) {
	var items [][]byte
	oid := func(o encasn1.ObjectIdentifier) []byte {
		var b cryptobyte.Builder
		b.AddASN1ObjectIdentifier(o)
		return b.BytesOrPanic()
	}
	// attribute is Attribute ::= SEQUENCE { type OID, values SET OF }; DER
	// sorts the members of a SET by their encoding (X.690 section 11.6).
	attribute := func(t encasn1.ObjectIdentifier, values [][]byte) []byte {
		slices.SortFunc(values, bytes.Compare)
		var b cryptobyte.Builder
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(t)
			b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {
				for _, v := range values {
					b.AddBytes(v)
				}
			})
		})
		return b.BytesOrPanic()
	}

	if ps.set.RequireChannelBinding {
		items = append(items, oid(oidChallengePassword))
	}
	var curves, rsaBits [][]byte
	for _, kt := range ps.profile.KeyTypes {
		switch {
		case kt == "ecdsa-p256":
			curves = append(curves, oid(oidP256))
		case kt == "ecdsa-p384":
			curves = append(curves, oid(oidP384))
		case kt == "ed25519":
			items = append(items, oid(oidEd25519))
		case strings.HasPrefix(kt, "rsa-"):
			bits, err := strconv.ParseInt(kt[len("rsa-"):], 10, 32)
			if err != nil {
				return nil, errs.Wrap(errs.Internal, err, "profile %s: key type %q", ps.name, kt)
			}
			var b cryptobyte.Builder
			b.AddASN1Int64(bits)
			rsaBits = append(rsaBits, b.BytesOrPanic())
		default:
			return nil, errs.New(errs.Internal, "profile %s: key type %q has no CSR attribute", ps.name, kt)
		}
	}
	if len(curves) > 0 {
		items = append(items, attribute(oidECPublicKey, curves))
	}
	if len(rsaBits) > 0 {
		items = append(items, attribute(oidRSAEncryption, rsaBits))
	}
	items = append(items, attribute(oidExtensionRequest, [][]byte{oid(oidSubjectAltName)}))
	// The subject attributes the profile takes from a CSR, as bare
	// attribute types (AttrOrOID's oid form, as the RFC's example asks
	// for macAddress): the device may send them.
	for _, t := range ps.profile.RequestedSubjectTypes() {
		items = append(items, oid(t))
	}

	if len(items) == 0 {
		return nil, nil
	}
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, it := range items {
			b.AddBytes(it)
		}
	})
	return b.Bytes()
}
