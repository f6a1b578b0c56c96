package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// heldProfile is a quickstart profile whose EST, SCEP and CMP first
// enrollments wait for an operator's approval, who is told through a
// webhook. CMP shares the quickstart's secret (var/cmp-secret).
const heldProfile = `  - name: held
    ca: issuing
    methods: [est, scep, cmp, api]
    names:
      dns: ["*"]
    cmp: {reference: held-devices, secret_file: var/cmp-secret}
    approval: {methods: [est, scep, cmp], retry_after: 5s, notify_url: %q, notify_secret_file: %q}
`

// hookReceiver keeps the notifications posted to it whose signature
// checks out under secret.
type hookReceiver struct {
	secret []byte
	// delay holds each answer back this long; a post whose client went
	// away meanwhile is not kept.
	delay atomic.Int64
	// down answers every post 503, as a webhook that is down.
	down   atomic.Bool
	mu     sync.Mutex
	events []string // "EVENT ID" of each, e.g. "request.pending 0a1b...", "certificate.issued SERIAL"
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if h.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	m := hmac.New(sha256.New, h.secret)
	m.Write(body)
	if r.Header.Get("X-Gateway-Signature") != "sha256="+hex.EncodeToString(m.Sum(nil)) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev struct {
		Event, Text string
		Request     struct{ ID string }
		Certificate struct{ Serial string }
	}
	err := json.Unmarshal(body, &ev)
	id := ev.Request.ID
	if strings.HasPrefix(ev.Event, "certificate.") {
		id = ev.Certificate.Serial
	}
	if err != nil || id == "" || !strings.Contains(ev.Text, id) {
		http.Error(w, "unexpected body", http.StatusBadRequest)
		return
	}
	select {
	case <-time.After(time.Duration(h.delay.Load())):
	case <-r.Context().Done():
		return
	}
	h.mu.Lock()
	h.events = append(h.events, ev.Event+" "+id)
	h.mu.Unlock()
}

// told waits up to 10 seconds for the event about id (a request's, or a
// certificate's serial).
func (h *hookReceiver) told(t *testing.T, event, id string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		h.mu.Lock()
		ok := slices.Contains(h.events, event+" "+id)
		h.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook was not told %s about %s (signed)", event, id)
		}
	}
}

type heldRequest struct {
	ID, Profile, Method, Requester, Status, Serial, Reason string
	Names                                                  []string
}

// Approvals with the real clients: the operator's webhook is told of each
// held request, signed; the globalsign estclient is told 202 and gets its
// certificate when it asks again after an operator approved
// with `gateway request approve`; the micromdm scepclient is told PENDING
// and, in its own retry loop, gets its certificate after an approval
// through the REST API; openssl cmp polls for its ir until `gateway
// request approve` issues it; a rejected EST request is refused with the
// operator's reason.
func TestApprovalWithRealClients(t *testing.T) {
	estBin, err := estclientBin()
	if err != nil {
		t.Fatal(err)
	}
	scepBin, err := scepclientBin()
	if err != nil {
		t.Fatal(err)
	}
	gdir := t.TempDir()
	setupQuickstart(t, gdir)
	hook := &hookReceiver{secret: []byte("webhook-secret-0123456789")}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)
	secretFile := writeIn(t, gdir, "hook-secret", string(hook.secret)+"\n")
	addProfile(t, gdir, fmt.Sprintf(heldProfile, hookSrv.URL+"/hooks/pki", secretFile))
	cli := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(gatewayBin, append(args, "-config", filepath.Join("var", "gateway.yaml"))...)
		cmd.Dir = gdir
		cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+filepath.Join(gdir, "var", "softhsm2.conf"))
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("gateway %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	const pass = "router-password-0123456789"
	cli(pass+"\n", "est", "user", "add", "-profile", "held", "-user", "router", "-password-stdin")
	_, challenge, _ := strings.Cut(cli("", "scep", "challenge", "-profile", "held", "-valid-for", "10m"), "challenge: ")
	challenge, _, _ = strings.Cut(challenge, "\n")
	g := StartQuickstart(t, gdir)

	client := filepath.Join(gdir, "client")
	if err := os.Mkdir(client, 0o700); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir = client
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	_, port, _ := net.SplitHostPort(g.HTTPS)
	root := filepath.Join(gdir, "var", "root.pem")
	enroll := func(key, name string) (string, error) {
		return run(estBin, "enroll", "-server", "localhost:"+port, "-aps", "held", "-explicit", root,
			"-user", "router", "-pass", pass, "-key", key, "-cn", name, "-dnsnames", name, "-out", key+".pem")
	}
	requests := func(query string) []heldRequest {
		t.Helper()
		code, b := g.API(t, "GET", "/api/v1/requests?"+query, nil)
		var list struct{ Requests []heldRequest }
		if code != 200 || json.Unmarshal(b, &list) != nil {
			t.Fatalf("GET /api/v1/requests?%s: %d %s", query, code, b)
		}
		return list.Requests
	}

	// EST: 202, then the certificate once approved. estclient makes and
	// signs its CSR anew each time; the gateway knows the request by its
	// key and names.
	if out, err := run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "r1.key"); err != nil {
		t.Fatal(out)
	}
	out, err := enroll("r1.key", "r1.test")
	if err == nil || !strings.Contains(out, "waits for an operator's approval") {
		t.Fatalf("estclient enroll on a held profile: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(client, "r1.key.pem")); err == nil {
		t.Fatal("estclient wrote a certificate for a held request")
	}
	if out, err := enroll("r1.key", "r1.test"); err == nil || !strings.Contains(out, "waits") {
		t.Fatalf("estclient repeat while pending: %v\n%s", err, out)
	}
	pending := requests("profile=held&status=pending")
	if len(pending) != 1 || pending[0].Method != "est" || pending[0].Requester != "basic:router" || strings.Join(pending[0].Names, ",") != "r1.test" {
		t.Fatalf("pending requests %+v", pending)
	}
	hook.told(t, "request.pending", pending[0].ID)
	listed := cli("", "request", "list", "-profile", "held")
	if !strings.Contains(listed, pending[0].ID) || !strings.Contains(listed, "basic:router") {
		t.Errorf("gateway request list:\n%s", listed)
	}
	approved := cli("", "request", "approve", "-id", pending[0].ID)
	if !strings.Contains(approved, "approved request "+pending[0].ID) {
		t.Errorf("gateway request approve: %s", approved)
	}
	hook.told(t, "request.issued", pending[0].ID) // decided on the command line
	if out, err := enroll("r1.key", "r1.test"); err != nil {
		t.Fatalf("estclient after approval: %v\n%s", err, out)
	}
	issued := readPEMCert(t, filepath.Join(client, "r1.key.pem"))
	done := requests("profile=held&status=issued")
	if len(done) != 1 || done[0].Serial != serialOf(t, filepath.Join(client, "r1.key.pem")) || issued.Subject.CommonName != "r1.test" {
		t.Fatalf("issued requests %+v, certificate %s", done, issued.Subject)
	}

	// EST rejected: the repeat is refused with the operator's reason.
	if out, err := run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "r2.key"); err != nil {
		t.Fatal(out)
	}
	if out, err := enroll("r2.key", "r2.test"); err == nil || !strings.Contains(out, "waits") {
		t.Fatalf("second router: %v\n%s", err, out)
	}
	pending = requests("profile=held&status=pending")
	if len(pending) != 1 {
		t.Fatalf("pending requests %+v", pending)
	}
	if code, b := g.API(t, "POST", "/api/v1/requests/"+pending[0].ID+"/reject", map[string]string{"reason": "not in the asset list"}); code != 200 {
		t.Fatalf("reject: %d %s", code, b)
	}
	hook.told(t, "request.rejected", pending[0].ID) // decided by the running gateway
	if out, err := enroll("r2.key", "r2.test"); err == nil || !strings.Contains(out, "not in the asset list") {
		t.Fatalf("estclient after rejection: %v\n%s", err, out)
	}

	// SCEP: the client is told PENDING and sends its request again every
	// 30 seconds; approving it through the API lets its next attempt
	// through, although its one-time challenge was spent on the first.
	if err := os.Mkdir(filepath.Join(client, "cam"), 0o700); err != nil {
		t.Fatal(err)
	}
	scep := exec.Command(scepBin, "-server-url", "http://"+g.HTTP+"/scep/held", "-key-encipherment-selector",
		"-private-key", filepath.Join("cam", "dev.key"), "-certificate", filepath.Join("cam", "dev.pem"),
		"-challenge", challenge, "-cn", "cam.test", "-dnsname", "cam.test")
	scep.Dir = client
	var scepOut bytes.Buffer
	scep.Stdout, scep.Stderr = &scepOut, &scepOut
	if err := scep.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- scep.Wait() }()
	t.Cleanup(func() { scep.Process.Kill() })
	var req heldRequest
	for deadline := time.Now().Add(20 * time.Second); req.ID == ""; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no pending SCEP request; scepclient said:\n%s", scepOut.String())
		}
		for _, r := range requests("profile=held&status=pending") {
			if r.Method == "scep" {
				req = r
			}
		}
	}
	if code, b := g.API(t, "POST", "/api/v1/requests/"+req.ID+"/approve", nil); code != 200 {
		t.Fatalf("approve: %d %s", code, b)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("scepclient: %v\n%s", err, scepOut.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("scepclient did not finish:\n%s", scepOut.String())
	}
	if !strings.Contains(scepOut.String(), "PENDING") {
		t.Errorf("scepclient was not told PENDING:\n%s", scepOut.String())
	}
	cam := readPEMCert(t, filepath.Join(client, "cam", "dev.pem"))
	if cam.Subject.CommonName != "cam.test" || serialOf(t, filepath.Join(client, "cam", "dev.pem")) != requests("profile=held&status=issued")[0].Serial {
		t.Fatalf("scepclient's certificate %s is not the approved request's", cam.Subject)
	}

	// CMP: openssl cmp sends an ir (a CRMF request) and polls while it
	// waits; the request shows the CRMF it keeps, and `gateway request
	// approve`, another process, checks its proof of possession again and
	// issues the certificate the client's next poll gets.
	if out, err := run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "plc.key"); err != nil {
		t.Fatal(out)
	}
	cmpDone := make(chan error, 1)
	var cmpOut []byte
	go func() {
		cmd := exec.Command("openssl", "cmp", "-server", g.HTTP, "-path", "/.well-known/cmp/p/held", "-ref", "held-devices",
			"-secret", "file:"+filepath.Join(gdir, "var", "cmp-secret"), "-recipient", "/CN=Gateway quickstart issuing CA",
			"-cmd", "ir", "-newkey", "plc.key", "-subject", "/CN=plc.test", "-sans", "plc.test", "-certout", "plc.pem", "-total_timeout", "60")
		cmd.Dir = client
		var err error
		cmpOut, err = cmd.CombinedOutput()
		cmpDone <- err
	}()
	req = heldRequest{}
	for deadline := time.Now().Add(20 * time.Second); req.ID == ""; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no pending CMP request")
		}
		for _, r := range requests("profile=held&status=pending") {
			if r.Method == "cmp" {
				req = r
			}
		}
	}
	if code, b := g.API(t, "GET", "/api/v1/requests/"+req.ID, nil); code != 200 || !strings.Contains(string(b), "BEGIN CERTIFICATE REQUEST MESSAGES") ||
		strings.Join(req.Names, ",") != "plc.test" {
		t.Errorf("the held ir: %d %s", code, b)
	}
	if out := cli("", "request", "approve", "-id", req.ID); !strings.Contains(out, "approved request "+req.ID) {
		t.Errorf("gateway request approve: %s", out)
	}
	select {
	case err := <-cmpDone:
		if err != nil {
			t.Fatalf("openssl cmp ir polling for an approved request: %v\n%s", err, cmpOut)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("openssl cmp did not finish")
	}
	if plc := readPEMCert(t, filepath.Join(client, "plc.pem")); plc.Subject.CommonName != "plc.test" {
		t.Fatalf("openssl cmp's certificate %s", plc.Subject)
	}

	// A decision just before the gateway stops: the stop waits for its
	// post (the webhook takes a while to answer, and keeps only the posts
	// whose sender was still there to read the answer).
	if out, err := run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "r3.key"); err != nil {
		t.Fatal(out)
	}
	if out, err := enroll("r3.key", "r3.test"); err == nil || !strings.Contains(out, "waits") {
		t.Fatalf("third router: %v\n%s", err, out)
	}
	pending = requests("profile=held&status=pending")
	if len(pending) != 1 {
		t.Fatalf("pending requests %+v", pending)
	}
	hook.told(t, "request.pending", pending[0].ID)
	hook.delay.Store(int64(1500 * time.Millisecond))
	if code, b := g.API(t, "POST", "/api/v1/requests/"+pending[0].ID+"/reject", map[string]string{"reason": "decommissioned"}); code != 200 {
		t.Fatalf("reject: %d %s", code, b)
	}
	g.Stop(t)
	hook.mu.Lock()
	told := slices.Contains(hook.events, "request.rejected "+pending[0].ID)
	hook.mu.Unlock()
	if !told {
		t.Error("the rejection decided just before the stop was not told: the gateway dropped its post")
	}
}
