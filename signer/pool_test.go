package signer

import (
	"context"
	"crypto"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/miekg/pkcs11"
)

// fakeHSM is a token that can be told to fail like a real one: its sign
// calls return fault while fault is set, and opening it fails with openErr.
type fakeHSM struct {
	key     *ecdsa.PrivateKey
	mu      sync.Mutex
	fault   error
	openErr error
	hold    chan struct{} // when set, Sign blocks until it is closed
	gone    bool          // the key "ca" was destroyed
	// other are more labels the token holds, all with key's material;
	// false once destroyed.
	other map[string]bool
}

// has reports whether the token holds a key labelled label; h.mu held.
func (h *fakeHSM) has(label string) bool {
	if label == "ca" {
		return !h.gone
	}
	return h.other[label]
}

func (h *fakeHSM) setFault(err error) { h.mu.Lock(); h.fault = err; h.mu.Unlock() }
func (h *fakeHSM) setOpenErr(err error) {
	h.mu.Lock()
	h.openErr = err
	h.mu.Unlock()
}

type fakeToken struct{ h *fakeHSM }

type fakeKey struct{ h *fakeHSM }

func (k fakeKey) Public() crypto.PublicKey { return k.h.key.Public() }
func (k fakeKey) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	k.h.mu.Lock()
	fault, hold := k.h.fault, k.h.hold
	k.h.mu.Unlock()
	if hold != nil {
		<-hold
	}
	if fault != nil {
		return nil, fault
	}
	return k.h.key.Sign(r, d, o)
}

func (t fakeToken) FindKey(label string) (crypto.Signer, error) {
	t.h.mu.Lock()
	defer t.h.mu.Unlock()
	if !t.h.has(label) {
		return nil, nil
	}
	return fakeKey{t.h}, nil
}

func (t fakeToken) DeleteKey(label string) (int, error) {
	t.h.mu.Lock()
	defer t.h.mu.Unlock()
	if !t.h.has(label) {
		return 0, nil
	}
	if label == "ca" {
		t.h.gone = true
	} else {
		t.h.other[label] = false
	}
	return 1, nil
}
func (t fakeToken) Generate(string, KeyType) (crypto.Signer, error) { return fakeKey{t.h}, nil }
func (t fakeToken) Close() error                                    { return nil }

// The fake holds no secret keys; the pool's use of them is tested on
// SoftHSM (TestSoftHSMWrapUnwrap).
func (t fakeToken) SecretAEADs(string) ([]cipher.AEAD, error) { return nil, nil }
func (t fakeToken) GenerateSecret(string) error {
	return fmt.Errorf("the fake token cannot make secret keys")
}

// fakeOpener serves one fakeHSM per token label.
func fakeOpener(hsms map[string]*fakeHSM) opener {
	return func(m Member, pin string, _ int) (token, error) {
		h := hsms[m.TokenLabel]
		if pin != "1234" {
			return nil, fmt.Errorf("failed to log into long term session: %w", pkcs11.Error(pkcs11.CKR_PIN_INCORRECT))
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.openErr != nil {
			return nil, h.openErr
		}
		return fakeToken{h}, nil
	}
}

func newFakes(t *testing.T, labels ...string) (map[string]*fakeHSM, []Member) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hsms := map[string]*fakeHSM{}
	var members []Member
	for _, l := range labels {
		hsms[l] = &fakeHSM{key: k}
		members = append(members, Member{Module: "fake", TokenLabel: l})
	}
	return hsms, members
}

// twoMembers is a pool over the fakes a and b (PIN 1234), with its key
// "ca" looked up.
func twoMembers(t *testing.T) (map[string]*fakeHSM, *Pool, Key) {
	t.Helper()
	hsms, members := newFakes(t, "a", "b")
	p, err := testPool(t, hsms, members, "1234")
	if err != nil {
		t.Fatal(err)
	}
	k, err := p.Key(context.Background(), p.URI("ca"))
	if err != nil {
		t.Fatal(err)
	}
	return hsms, p, k
}

func testPool(t *testing.T, hsms map[string]*fakeHSM, members []Member, pin string) (*Pool, error) {
	t.Helper()
	p, err := newPool(PoolConfig{
		Members: members, PIN: pin, MaxSessions: 4,
		SessionWait: 200 * time.Millisecond, HealthInterval: 50 * time.Millisecond,
		ReconnectInterval: 50 * time.Millisecond,
	}, fakeOpener(hsms))
	if p != nil {
		t.Cleanup(func() { p.Close() })
	}
	return p, err
}

func signOnce(t *testing.T, k Key) error {
	t.Helper()
	d := sha256.Sum256([]byte("tbs"))
	sig, err := k.SignContext(context.Background(), d[:], crypto.SHA256)
	if err != nil {
		return err
	}
	if !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), d[:], sig) {
		t.Fatal("signature does not verify")
	}
	return nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Each fault that means "this token is gone" takes the member out of
// rotation; signing carries on with the other member, and the member comes
// back once its token answers again.
func TestPoolFailsOverOnDeviceFaults(t *testing.T) {
	for _, code := range []uint{
		pkcs11.CKR_DEVICE_ERROR, pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_PRESENT,
		pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_OBJECT_HANDLE_INVALID,
	} {
		t.Run(pkcs11.Error(code).Error(), func(t *testing.T) {
			hsms, p, k := twoMembers(t)
			hsms["b"].setFault(pkcs11.Error(code))
			hsms["b"].setOpenErr(pkcs11.Error(pkcs11.CKR_TOKEN_NOT_PRESENT))
			for i := range 20 {
				if err := signOnce(t, k); err != nil {
					t.Fatalf("signature %d failed while one member was healthy: %v", i, err)
				}
			}
			if st := p.Status()[1]; st.State != "down" {
				t.Fatalf("member b is %s after %s, want down", st.State, pkcs11.Error(code))
			}
			hsms["b"].setFault(nil)
			hsms["b"].setOpenErr(nil)
			waitFor(t, "member b to come back", func() bool { return p.Status()[1].State == "up" })
			before := p.Status()[1].Signs
			for range 10 {
				if err := signOnce(t, k); err != nil {
					t.Fatal(err)
				}
			}
			if p.Status()[1].Signs == before {
				t.Fatal("member b is up but got no signatures")
			}
		})
	}
}

// With every member down the error is a 5xx-class Unavailable, never a
// client error.
func TestPoolAllDownIsUnavailable(t *testing.T) {
	hsms, p, k := twoMembers(t)
	for _, h := range hsms {
		h.setFault(pkcs11.Error(pkcs11.CKR_DEVICE_REMOVED))
		h.setOpenErr(pkcs11.Error(pkcs11.CKR_TOKEN_NOT_PRESENT))
	}
	err := signOnce(t, k)
	if err == nil {
		t.Fatal("signed with every member down")
	}
	if errs.KindOf(err) != errs.Unavailable || errs.ClientFault(err) {
		t.Fatalf("error kind %s (client fault %v), want unavailable: %v", errs.KindOf(err), errs.ClientFault(err), err)
	}
	if p.Check(context.Background()) == nil {
		t.Fatal("Check is nil with every member down")
	}
}

// A key is destroyed in every member that is up; one that is down keeps
// its copy, so Destroy answers Unavailable until it can destroy that one
// too, and a second Destroy of a key already gone succeeds.
func TestPoolDestroyNeedsEveryMember(t *testing.T) {
	hsms, members := newFakes(t, "a", "b")
	p, err := testPool(t, hsms, members, "1234")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := p.Key(ctx, p.URI("ca")); err != nil {
		t.Fatal(err)
	}
	hsms["b"].setFault(pkcs11.Error(pkcs11.CKR_DEVICE_REMOVED))
	hsms["b"].setOpenErr(pkcs11.Error(pkcs11.CKR_TOKEN_NOT_PRESENT))
	p.members[1].markDown(pkcs11.Error(pkcs11.CKR_DEVICE_REMOVED))
	if err := p.Destroy(ctx, p.URI("ca")); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("Destroy with member b down: %v, want unavailable", err)
	}
	if !hsms["a"].gone || hsms["b"].gone {
		t.Fatalf("after Destroy with b down: gone in a %v, in b %v; want a only", hsms["a"].gone, hsms["b"].gone)
	}
	hsms["b"].setFault(nil)
	hsms["b"].setOpenErr(nil)
	// b forgot the label while down, so its reconnect does not look for it.
	waitFor(t, "member b to come back", func() bool { return p.Status()[1].State == "up" })
	if err := p.Destroy(ctx, p.URI("ca")); err != nil {
		t.Fatalf("Destroy with every member up: %v", err)
	}
	if !hsms["b"].gone {
		t.Fatal("the key is still in member b")
	}
	if err := p.Destroy(ctx, p.URI("ca")); err != nil {
		t.Fatalf("Destroy of a key already destroyed: %v", err)
	}
	if _, err := p.Key(ctx, p.URI("ca")); !errs.Is(err, errs.NotFound) {
		t.Fatalf("Key after Destroy: %v, want not found", err)
	}
}

// A key destroyed behind the pool's back (by another replica: the keys of
// expired OCSP responders) is forgotten, not taken for a lost token: the
// health probe and a reconnect find the other keys and keep the member up.
// A token that holds none of the cached keys still takes the member down.
func TestPoolForgetsAKeyDestroyedElsewhere(t *testing.T) {
	hsms, members := newFakes(t, "a")
	hsms["a"].other = map[string]bool{"responder": true}
	p, err := testPool(t, hsms, members, "1234")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ca, err := p.Key(ctx, p.URI("ca"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Key(ctx, p.URI("responder")); err != nil {
		t.Fatal(err)
	}
	cached := func() bool {
		m := p.members[0]
		m.mu.RLock()
		defer m.mu.RUnlock()
		_, ok := m.keys["responder"]
		return ok
	}
	hsms["a"].mu.Lock()
	hsms["a"].other["responder"] = false // another replica destroyed it
	hsms["a"].mu.Unlock()
	waitFor(t, "the probe to forget the destroyed key", func() bool { return !cached() })
	if st := p.Status()[0].State; st != "up" {
		t.Fatalf("member is %s after a key was destroyed elsewhere, want up", st)
	}
	if err := signOnce(t, ca); err != nil {
		t.Fatal(err)
	}

	// A reconnect that finds some of the cached keys forgets the others.
	m := p.members[0]
	m.mu.Lock()
	m.keys["responder"] = nil
	err = m.connectLocked(time.Now())
	m.mu.Unlock()
	if err != nil || cached() {
		t.Fatalf("reconnect with a destroyed key: %v, still cached %v", err, cached())
	}

	// A token with none of them is another token, or an emptied one.
	hsms["a"].mu.Lock()
	hsms["a"].gone = true
	hsms["a"].mu.Unlock()
	waitFor(t, "the member to go down", func() bool { return p.Status()[0].State == "down" })
}

// A wrong PIN fails once, clearly, and is not retried.
func TestPoolWrongPINFailsOnce(t *testing.T) {
	hsms, members := newFakes(t, "a")
	var opens atomic.Int32
	open := fakeOpener(hsms)
	p, err := newPool(PoolConfig{Members: members, PIN: "0000", ReconnectInterval: time.Millisecond, HealthInterval: time.Millisecond},
		func(m Member, pin string, n int) (token, error) {
			opens.Add(1)
			return open(m, pin, n)
		})
	if err == nil {
		p.Close()
		t.Fatal("NewPool succeeded with a wrong PIN")
	}
	if !strings.Contains(err.Error(), "PIN incorrect") || strings.Contains(err.Error(), "0000") {
		t.Fatalf("error %q should say the PIN is incorrect and not show it", err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := opens.Load(); n != 1 {
		t.Fatalf("%d log-in attempts, want exactly 1", n)
	}
}

// A member whose PIN stops working while it reconnects is disabled, not
// retried in a loop (which would lock the token).
func TestPoolPINFailureOnReconnectDisablesMember(t *testing.T) {
	hsms, p, k := twoMembers(t)
	hsms["b"].setFault(pkcs11.Error(pkcs11.CKR_DEVICE_ERROR))
	hsms["b"].setOpenErr(fmt.Errorf("login: %w", pkcs11.Error(pkcs11.CKR_PIN_INCORRECT)))
	for range 10 {
		if err := signOnce(t, k); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "member b to be disabled", func() bool { return p.Status()[1].State == "failed" })
	opens := p.Status()[1].Opens
	time.Sleep(300 * time.Millisecond) // six reconnect intervals
	if got := p.Status()[1].Opens; got != opens {
		t.Fatalf("disabled member was retried: %d log-in attempts, then %d", opens, got)
	}
}

// Reconnect attempts are limited to one per ReconnectInterval.
func TestPoolReconnectIsRateLimited(t *testing.T) {
	hsms, members := newFakes(t, "a", "b")
	p, err := newPool(PoolConfig{Members: members, PIN: "1234", MaxSessions: 4,
		SessionWait: 100 * time.Millisecond, HealthInterval: 10 * time.Millisecond, ReconnectInterval: 200 * time.Millisecond},
		fakeOpener(hsms))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	k, _ := p.Key(context.Background(), p.URI("ca"))
	hsms["b"].setFault(pkcs11.Error(pkcs11.CKR_DEVICE_REMOVED))
	hsms["b"].setOpenErr(pkcs11.Error(pkcs11.CKR_TOKEN_NOT_PRESENT))
	start := p.Status()[1].Opens
	for range 200 {
		signOnce(t, k)
	}
	time.Sleep(time.Second)
	attempts := p.Status()[1].Opens - start
	// One second at one attempt per 200 ms: at most 6 with scheduling slack.
	if attempts < 2 || attempts > 7 {
		t.Fatalf("%d reconnect attempts in one second, want 2-7 (one per 200 ms)", attempts)
	}
}

// A caller waits for a session at most SessionWait, or until its context
// ends, and then gets an Unavailable error.
func TestPoolSessionWaitIsBounded(t *testing.T) {
	hsms, members := newFakes(t, "a")
	p, err := newPool(PoolConfig{Members: members, PIN: "1234", MaxSessions: 2,
		SessionWait: 100 * time.Millisecond, HealthInterval: time.Hour, ReconnectInterval: time.Hour},
		fakeOpener(hsms))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	k, _ := p.Key(context.Background(), p.URI("ca"))
	hold := make(chan struct{})
	hsms["a"].mu.Lock()
	hsms["a"].hold = hold
	hsms["a"].mu.Unlock()
	go func() { // takes the only session and blocks
		d := sha256.Sum256([]byte("hold"))
		k.SignContext(context.Background(), d[:], crypto.SHA256)
	}()
	time.Sleep(20 * time.Millisecond)

	t0 := time.Now()
	err = signOnce(t, k)
	if errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("got %v, want unavailable after the session wait", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	d := sha256.Sum256(nil)
	if _, err := k.SignContext(ctx, d[:], crypto.SHA256); errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("got %v, want unavailable when the context ends", err)
	}
	if el := time.Since(t0); el > 5*time.Second {
		t.Fatalf("waited %s for a session", el)
	}
	close(hold)
}

func TestKeyURIRoundTrip(t *testing.T) {
	for _, label := range []string{"gateway-root", "with space", "semi;colon", "pct%"} {
		got, err := parseKeyURI(keyURI(label))
		if err != nil || got != label {
			t.Fatalf("label %q: round trip gave %q, %v", label, got, err)
		}
	}
	for _, bad := range []string{"file:/x", "pkcs11:type=private", "pkcs11:object=x;type=public", "pkcs11:object=x?pin-value=1234"} {
		if _, err := parseKeyURI(bad); err == nil {
			t.Fatalf("parseKeyURI(%q) succeeded", bad)
		}
	}
}

// An observer hears of every operation each member ran, the failed ones
// too, named as Status names the member.
func TestPoolObserver(t *testing.T) {
	hsms, p, k := twoMembers(t)
	var (
		mu     sync.Mutex
		ok     = map[string]int{}
		failed = map[string]int{}
	)
	p.Observe(func(member, op string, took time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		if op != "sign" || took < 0 {
			t.Errorf("observed %s taking %v", op, took)
		}
		if err != nil {
			failed[member]++
		} else {
			ok[member]++
		}
	})
	hsms["b"].setFault(pkcs11.Error(pkcs11.CKR_DEVICE_ERROR))
	hsms["b"].setOpenErr(pkcs11.Error(pkcs11.CKR_TOKEN_NOT_PRESENT))
	for range 4 {
		if err := signOnce(t, k); err != nil {
			t.Fatal(err)
		}
	}
	st := p.Status()
	mu.Lock()
	defer mu.Unlock()
	if ok[st[0].Member] != 4 || failed[st[1].Member] != 1 || ok[st[1].Member] != 0 {
		t.Errorf("observed ok %v, failed %v; want 4 signatures by %s and the one fault of %s", ok, failed, st[0].Member, st[1].Member)
	}
}
