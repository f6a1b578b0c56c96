package api

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// PKCS#12 files are written with go-pkcs12's Modern encoder (today
// Modern2023): keys and certificates under PBES2 with PBKDF2-HMAC-SHA-256
// and AES-256-CBC, and an HMAC-SHA-256 MAC, which OpenSSL 1.1.1 and later,
// Java 12 and later and Windows Server 2019 read. It runs PBKDF2 only 2048
// times, so the password protects the file in transit, not against a
// patient attacker holding a copy; say so to users who choose weak ones.

// encodePKCS12 packs a key, its certificate and the chain.
func encodePKCS12(key any, cert *x509.Certificate, chain []*x509.Certificate, password string) ([]byte, error) {
	if password == "" {
		return nil, errs.New(errs.Malformed, "field \"password\": required: a PKCS#12 file is encrypted with it")
	}
	p12, err := pkcs12.Modern.Encode(key, cert, chain, password)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "encode PKCS#12")
	}
	return p12, nil
}

// encodePKCS12Certs packs certificates without a key. go-pkcs12 writes a
// file without a key only as a trust store: each certificate in a certBag
// with the Java attribute that marks it trusted. OpenSSL and Windows read
// the certificates of such a file like any other; Java's keytool lists them
// as trusted certificate entries.
func encodePKCS12Certs(certs []*x509.Certificate, password string) ([]byte, error) {
	if password == "" {
		return nil, errs.New(errs.Malformed, "field \"password\": required: a PKCS#12 file is encrypted with it")
	}
	p12, err := pkcs12.Modern.EncodeTrustStore(certs, password)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "encode PKCS#12")
	}
	return p12, nil
}

type pkcs12Request struct {
	Password string `json:"password"`
}

// pkcs12 exports a certificate as PKCS#12: POST
// /certificates/{serial}/pkcs12 with {"password": ...}. The file holds the
// certificate, its chain and, where the gateway holds it, the key; without
// a key it is a certificate-only trust store (see encodePKCS12Certs). A key
// leaving the gateway is audited.
func (a *API) pkcs12(w http.ResponseWriter, r *http.Request) {
	serial, err := serialParam(r)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	var req pkcs12Request
	if err := decodeJSON(w, r, &req); err != nil {
		a.problem(w, r, err)
		return
	}
	if req.Password == "" {
		a.problem(w, r, errs.New(errs.Malformed, "field \"password\": required: a PKCS#12 file is encrypted with it"))
		return
	}
	ctx := r.Context()
	if err := a.seesSerial(r, serial); err != nil { // before the key is unsealed
		a.problem(w, r, err)
		return
	}
	b, err := a.core.Bundle(ctx, serial)
	if err != nil {
		a.problem(w, r, certError(serial, err))
		return
	}
	var p12 []byte
	if b.KeyPEM != nil {
		key, err := parseKeyPEM(b.KeyPEM)
		if err != nil {
			a.problem(w, r, errs.Wrap(errs.Internal, err, "held key of %s", serial))
			return
		}
		if p12, err = encodePKCS12(key, b.Cert, b.Chain, req.Password); err != nil {
			a.problem(w, r, err)
			return
		}
		if err := a.auditKeyExport(r, b.Record, "pkcs12"); err != nil {
			a.problem(w, r, err)
			return
		}
	} else if p12, err = encodePKCS12Certs(append([]*x509.Certificate{b.Cert}, b.Chain...), req.Password); err != nil {
		a.problem(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-pkcs12")
	w.Header().Set("Content-Disposition", `attachment; filename="`+serial+`.p12"`)
	w.WriteHeader(http.StatusOK)
	w.Write(p12)
}

// parseKeyPEM reads the PKCS#8 PEM key the core unsealed.
func parseKeyPEM(b []byte) (any, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errs.New(errs.Internal, "not a PKCS#8 PEM key")
	}
	return x509.ParsePKCS8PrivateKey(block.Bytes)
}

// auditKeyExport records that a held private key left the gateway, and to
// whom. It runs before the key is sent: an export that cannot be audited
// does not happen.
func (a *API) auditKeyExport(r *http.Request, c storage.Certificate, how string) error {
	_, err := a.store.AppendAudit(r.Context(), storage.AuditEvent{
		At: a.now(), Actor: requester(r), Action: "export-key", Profile: c.Profile, Serial: c.Serial,
		Detail: "format=" + how,
	})
	if err != nil {
		return err
	}
	a.log.Info("private key exported", "serial", c.Serial, "profile", c.Profile, "format", how, "by", requester(r))
	return nil
}
