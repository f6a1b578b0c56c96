package api

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
)

// issueRequest asks for a certificate under a profile: either for the key
// of a CSR, or for a key the gateway generates (key_type and the names).
type issueRequest struct {
	CSR string `json:"csr"`

	KeyType     string   `json:"key_type"`
	CommonName  string   `json:"common_name"`
	DNSNames    []string `json:"dns_names"`
	IPAddresses []string `json:"ip_addresses"`
	Emails      []string `json:"emails"`
	URIs        []string `json:"uris"`
	// Subject holds subject attributes besides the common name, by their
	// configuration names (organization, serial_number...); the profile
	// takes those it lets a request set (subject.from_csr).
	Subject   map[string]string `json:"subject"`
	AutoRenew *bool             `json:"auto_renew"`
	// Format of a generated key: "pem" (the default) or "pkcs12", which
	// needs Password.
	Format   string `json:"format"`
	Password string `json:"password"`

	// Validity is a duration as the configuration writes it ("90d",
	// "2160h"); empty is the profile's default.
	Validity string `json:"validity"`
}

// issueResponse is the issued certificate. For a generated key it carries
// the key either as PEM (PrivateKey) or inside a password-protected
// PKCS#12 (PKCS12, base64).
type issueResponse struct {
	Serial      string    `json:"serial"`
	Certificate string    `json:"certificate"`
	Chain       string    `json:"chain"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	PrivateKey  string    `json:"private_key,omitempty"`
	PKCS12      string    `json:"pkcs12,omitempty"`
	// Replaces is the certificate a renewal renews.
	Replaces string `json:"replaces,omitempty"`
}

const (
	formatPEM    = "pem"
	formatPKCS12 = "pkcs12"
)

// issue issues a certificate: POST /profiles/{profile}/certificates. The
// core applies the profile; a refused request stores nothing. It answers
// 201 with the certificate and a Location of its inventory record.
func (a *API) issue(w http.ResponseWriter, r *http.Request) {
	var body issueRequest
	if err := decodeJSON(w, r, &body); err != nil {
		a.problem(w, r, err)
		return
	}
	req, err := body.coreRequest()
	if err != nil {
		a.problem(w, r, err)
		return
	}
	req.Profile = chi.URLParam(r, "profile")
	req.Method = "api"
	req.Requester = requester(r)
	// Prefer: respond-async (RFC 7240) lets an external CA's issuance go
	// on after the answer (ca.IssueRequest.Async).
	if pref := parsePrefer(r.Header); pref.async {
		req.Async, req.AsyncWait = true, pref.wait
	}

	issued, err := a.core.Issue(r.Context(), req)
	if p, ok := ca.AsPending(err); ok {
		a.log.Info("issuance pending", "profile", req.Profile, "requester", req.Requester, "request", p.Request.ID, "why", p.Error())
		a.pending(w, p)
		return
	}
	if err != nil {
		if errs.ClientFault(err) {
			a.log.Info("issuance refused", "profile", req.Profile, "requester", req.Requester, "reason", err.Error())
		}
		a.problem(w, r, err)
		return
	}
	a.log.Info("issuance granted", "profile", req.Profile, "requester", req.Requester,
		"serial", issued.Serial, "generated_key", issued.Key != nil, "not_after", issued.Cert.NotAfter)
	a.writeIssued(w, r, issued, body.Format, body.Password, "")
}

// writeIssued answers an issuance: 201 (200 for an approved request
// repeated) with the certificate, its chain and a generated key in format
// (PEM, or PKCS#12 under password), and a Location of its inventory
// record. replaces names the certificate it renews, if any.
func (a *API) writeIssued(w http.ResponseWriter, r *http.Request, issued *ca.Issued, format, password, replaces string) {
	resp := issueResponse{
		Serial:      issued.Serial,
		Certificate: string(ca.PEMChain(issued.Cert)),
		Chain:       string(ca.PEMChain(issued.Chain...)),
		NotBefore:   issued.Cert.NotBefore.UTC(),
		NotAfter:    issued.Cert.NotAfter.UTC(),
		Replaces:    replaces,
	}
	if issued.Key != nil {
		switch format {
		case formatPKCS12:
			p12, err := encodePKCS12(issued.Key, issued.Cert, issued.Chain, password)
			if err != nil {
				a.problem(w, r, err)
				return
			}
			resp.PKCS12 = base64.StdEncoding.EncodeToString(p12)
		default:
			pemKey, err := privateKeyPEM(issued.Key)
			if err != nil {
				a.problem(w, r, err)
				return
			}
			resp.PrivateKey = string(pemKey)
		}
	}
	w.Header().Set("Location", "/api/v1/certificates/"+issued.Serial)
	status := http.StatusCreated
	if issued.Earlier { // an approved request, repeated
		status = http.StatusOK
	}
	writeJSON(w, status, resp)
}

// coreRequest checks the fields that belong together and translates the
// body into a core request. Everything about policy (names, key types,
// validity, whether the gateway may generate keys) is the core's to say.
func (b issueRequest) coreRequest() (ca.IssueRequest, error) {
	var req ca.IssueRequest
	var err error
	if req.Validity, err = parseValidity(b.Validity); err != nil {
		return req, err
	}
	if err := checkKeyFormat(b.Format, b.Password); err != nil {
		return req, err
	}

	if b.CSR != "" {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"key_type", b.KeyType != ""}, {"common_name", b.CommonName != ""}, {"dns_names", b.DNSNames != nil},
			{"ip_addresses", b.IPAddresses != nil}, {"emails", b.Emails != nil}, {"uris", b.URIs != nil}, {"subject", b.Subject != nil}, {"auto_renew", b.AutoRenew != nil},
			{"format", b.Format != ""},
		} {
			if f.set {
				return req, errs.New(errs.Malformed, "field %q: not allowed with \"csr\": the CSR carries the names and the key, and the gateway holds no key to renew or export", f.name)
			}
		}
		req.CSR, err = csrDER(b.CSR)
		return req, err
	}
	if b.KeyType == "" {
		return req, errs.New(errs.Malformed, "the request needs either \"csr\" or \"key_type\" with the names of a key the gateway generates")
	}
	subject, err := ca.SubjectOf(b.Subject)
	if err != nil {
		return req, errs.Wrap(errs.Malformed, err, "field \"subject\"")
	}
	req.Generate = &ca.GenerateRequest{
		KeyType: b.KeyType, CommonName: b.CommonName, Subject: subject,
		DNSNames: b.DNSNames, IPs: b.IPAddresses, Emails: b.Emails, URIs: b.URIs,
	}
	req.AutoRenew = b.AutoRenew
	return req, nil
}

// parseValidity reads the field "validity", a duration as the
// configuration writes it; "" is 0 (the profile's default).
func parseValidity(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := config.ParseDuration(v)
	if err != nil {
		return 0, errs.New(errs.Malformed, "field \"validity\": %q is not a duration such as \"90d\" or \"2160h\"", v)
	}
	if d <= 0 {
		return 0, errs.New(errs.Malformed, "field \"validity\": must be positive, got %q", v)
	}
	return d.D(), nil
}

// checkKeyFormat checks the fields "format" and "password" of a generated
// key's answer.
func checkKeyFormat(format, password string) error {
	switch format {
	case "", formatPEM:
		if password != "" {
			return errs.New(errs.Malformed, "field \"password\": only for \"format\": \"pkcs12\"")
		}
	case formatPKCS12:
		if password == "" {
			return errs.New(errs.Malformed, "field \"password\": required with \"format\": \"pkcs12\"")
		}
	default:
		return errs.New(errs.Malformed, "field \"format\": %q is not \"pem\" or \"pkcs12\"", format)
	}
	return nil
}

// csrDER reads the field "csr", a PEM certification request.
func csrDER(csr string) ([]byte, error) {
	block, _ := pem.Decode([]byte(csr))
	if block == nil || (block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST") {
		return nil, errs.New(errs.BadCSR, "field \"csr\": not a PEM \"CERTIFICATE REQUEST\"")
	}
	return block.Bytes, nil
}

// privateKeyPEM encodes a key as PKCS#8 PEM ("PRIVATE KEY").
func privateKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "marshal the private key")
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
