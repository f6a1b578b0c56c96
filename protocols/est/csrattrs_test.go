package est

import (
	"encoding/asn1"
	"math/big"
	"reflect"
	"testing"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
)

// TestCSRAttrs decodes the answer as an EST client does (the AttrOrOID
// choice of RFC 7030 section 4.5.2) and checks what each profile asks for.
func TestCSRAttrs(t *testing.T) {
	type decoded struct {
		oids  []string
		attrs map[string][]string
	}
	decode := func(t *testing.T, der []byte) decoded {
		var seq []asn1.RawValue
		if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(rest) > 0 {
			t.Fatalf("not a SEQUENCE: %v", err)
		}
		d := decoded{attrs: map[string][]string{}}
		for _, it := range seq {
			switch it.Tag {
			case asn1.TagOID:
				var o asn1.ObjectIdentifier
				asn1.Unmarshal(it.FullBytes, &o)
				d.oids = append(d.oids, o.String())
			case asn1.TagSequence:
				var a struct {
					Type   asn1.ObjectIdentifier
					Values []asn1.RawValue `asn1:"set"`
				}
				if _, err := asn1.Unmarshal(it.FullBytes, &a); err != nil {
					t.Fatal(err)
				}
				for _, v := range a.Values {
					switch v.Tag {
					case asn1.TagOID:
						var o asn1.ObjectIdentifier
						asn1.Unmarshal(v.FullBytes, &o)
						d.attrs[a.Type.String()] = append(d.attrs[a.Type.String()], o.String())
					case asn1.TagInteger:
						var n *big.Int
						asn1.Unmarshal(v.FullBytes, &n)
						d.attrs[a.Type.String()] = append(d.attrs[a.Type.String()], n.String())
					}
				}
			default:
				t.Fatalf("unexpected tag %d", it.Tag)
			}
		}
		return d
	}
	san := map[string][]string{"1.2.840.113549.1.9.14": {"2.5.29.17"}}
	for _, tc := range []struct {
		name     string
		keyTypes []string
		binding  bool
		subject  config.ProfileSubject
		want     decoded
	}{
		{"every key type", []string{"ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519"}, false, config.ProfileSubject{}, decoded{
			oids: []string{"1.3.101.112"},
			attrs: map[string][]string{
				"1.2.840.10045.2.1":     {"1.3.132.0.34", "1.2.840.10045.3.1.7"}, // DER order: the shorter encoding first
				"1.2.840.113549.1.1.1":  {"2048", "3072", "4096"},
				"1.2.840.113549.1.9.14": {"2.5.29.17"},
			}}},
		{"P-384 only, channel binding", []string{"ecdsa-p384"}, true, config.ProfileSubject{}, decoded{
			oids: []string{"1.2.840.113549.1.9.7"},
			attrs: map[string][]string{
				"1.2.840.10045.2.1":     {"1.3.132.0.34"},
				"1.2.840.113549.1.9.14": {"2.5.29.17"},
			}}},
		{"RSA only", []string{"rsa-3072"}, false, config.ProfileSubject{}, decoded{attrs: map[string][]string{"1.2.840.113549.1.1.1": {"3072"}, "1.2.840.113549.1.9.14": san["1.2.840.113549.1.9.14"]}}},
		// The subject attributes a request may set, as bare types;
		// fixed ones are not asked for.
		{"subject from the CSR", []string{"ed25519"}, false, config.ProfileSubject{Organization: "Fixed", FromCSR: []string{"serial_number", "organizational_unit"}}, decoded{
			oids:  []string{"1.3.101.112", "2.5.4.11", "2.5.4.5"},
			attrs: san,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ca.CompileProfile(config.Profile{Name: "p", KeyTypes: tc.keyTypes, Subject: tc.subject})
			if err != nil {
				t.Fatal(err)
			}
			der, err := csrAttrs(&profileState{name: "p", profile: p, set: ProfileSettings{RequireChannelBinding: tc.binding}})
			if err != nil {
				t.Fatal(err)
			}
			if got := decode(t, der); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("csrattrs =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}
