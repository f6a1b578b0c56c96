package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/certgw/gateway/test/stepca"
)

// peerResult is the REST API against step-ca's /1.0/sign, the peer's
// nearest to it, alternated in the same rounds.
type peerResult struct {
	api, step float64 // certificates per second
}

// peerBench alternates issueOnce (the gateway's REST API) with step-ca's
// POST /1.0/sign on the same CSRs: a JWK provisioner, a one-time token per
// certificate (minted before the rounds, as a client would bring its
// own), the intermediate key in a PEM file and a badger database (what a
// default step-ca runs), in a separate process on the same CPUs.
func peerBench(dir string, issueOnce func() error, csrs [][]byte, names []string, callers int, dur time.Duration, rounds int) peerResult {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	sdir := filepath.Join(dir, "step-ca")
	bin, err := stepca.Build(sdir)
	if err != nil {
		log.Fatal(err)
	}
	c, err := stepca.Start(stepca.Options{Bin: bin, Dir: sdir, Challenges: []string{"http-01"},
		SignKey: &jose.JSONWebKey{Key: key.Public(), Algorithm: string(jose.ES256)}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Stop()
	rootPEM, err := os.ReadFile(c.RootPEM)
	if err != nil {
		log.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConnsPerHost: callers}}

	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		log.Fatal(err)
	}
	// The token names the CSR's one DNS name (sub and sans), is good for
	// ten minutes and, as step-ca refuses a token twice, is new each time.
	body := func(i int) []byte {
		now := time.Now()
		id := make([]byte, 16)
		rand.Read(id)
		claims := struct {
			jwt.Claims
			SANs []string `json:"sans"`
		}{jwt.Claims{Issuer: stepca.SignProvisioner, Subject: names[i], Audience: jwt.Audience{"https://127.0.0.1/1.0/sign"},
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), IssuedAt: jwt.NewNumericDate(now),
			Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute)), ID: hex.EncodeToString(id)}, []string{names[i]}}
		tok, err := jwt.Signed(signer).Claims(claims).Serialize()
		if err != nil {
			log.Fatal(err)
		}
		b, _ := json.Marshal(map[string]string{
			"csr": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrs[i]})), "ott": tok})
		return b
	}
	// Enough bodies for the rounds at several thousand a second; past
	// them, tokens are minted on the way.
	bodies := make([][]byte, 4000*(rounds+1))
	for i := range bodies {
		bodies[i] = body(i % len(csrs))
	}
	var next atomic.Int64
	var lats latencies
	signOnce := func() error {
		n := int(next.Add(1))
		b := body(n % len(csrs))
		if n < len(bodies) {
			b = bodies[n]
		}
		req, _ := http.NewRequest(http.MethodPost, c.URL+"/1.0/sign", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		return timedRequest(client, req, http.StatusCreated, "step-ca sign", &lats)
	}
	if err := signOnce(); err != nil {
		log.Fatalf("step-ca /1.0/sign: %v (log: %s)", err, c.Log)
	}

	m := alternate(callers, dur, rounds, issueOnce, signOnce)
	r := peerResult{api: m[0], step: m[1]}
	log.Printf("REST API against step-ca %s /1.0/sign: gateway %.0f/s, step-ca %.0f/s, ratio %.2f", stepca.Version, r.api, r.step, r.api/r.step)
	return r
}

// peerMarkdown is the table of peerBench's result.
func peerMarkdown(r peerResult) string {
	return fmt.Sprintf("\n**Against a peer.** The same REST API requests (SQLite store) alternated with step-ca %s's\n"+
		"`POST /1.0/sign` on the same CSRs, 8 clients each: step-ca checks a one-time token of a JWK provisioner\n"+
		"(minted by the client beforehand, as a pipeline would bring its own), signs with its intermediate key\n"+
		"from a PEM file (no HSM) and records the token and the certificate in its badger database, in a\n"+
		"separate process on the same CPUs. Built from the module proxy in the same run.\n\n"+
		"| server | key | store | certificates/s |\n|---|---|---|---|\n"+
		"| gateway REST API | SoftHSM (PKCS#11) | SQLite, every issuance flushed to disk | %.0f |\n"+
		"| step-ca %s `/1.0/sign` | software (PEM file) | badger | %.0f |\n\n"+
		"Gateway / step-ca: **%.2f**.\n", stepca.Version, r.api, stepca.Version, r.step, r.api/r.step)
}
