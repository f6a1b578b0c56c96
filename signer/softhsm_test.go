package signer_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThalesIgnite/crypto11"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/test/softhsm"
	"github.com/miekg/pkcs11"
)

func poolConfig(members ...signer.Member) signer.PoolConfig {
	return signer.PoolConfig{
		Members: members, PIN: softhsm.PIN, MaxSessions: 4,
		SessionWait: 2 * time.Second, HealthInterval: 200 * time.Millisecond, ReconnectInterval: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// tokenPool makes a SoftHSM token labelled gateway and a pool over it.
func tokenPool(t *testing.T) (*softhsm.Env, *signer.Pool) {
	t.Helper()
	env := softhsm.New(t, "gateway")
	return env, poolOver(t, env)
}

// poolOver opens a pool over env's token, closed when the test ends.
func poolOver(t *testing.T, env *softhsm.Env) *signer.Pool {
	t.Helper()
	p, err := signer.NewPool(poolConfig(signer.Member{Module: env.Module, TokenLabel: "gateway"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func verify(t *testing.T, pub crypto.PublicKey, digest, sig []byte) {
	t.Helper()
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest, sig) {
			t.Fatal("ECDSA signature does not verify")
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("unexpected public key %T", pub)
	}
}

// Keys are generated inside the token as sensitive and non-extractable:
// read the attributes back through PKCS#11 for every key type.
func TestSoftHSMGenerateKeysStayInToken(t *testing.T) {
	env, p := tokenPool(t)
	ctx := context.Background()
	d := sha256.Sum256([]byte("to be signed"))
	for _, kt := range signer.KeyTypes {
		k, err := p.Generate(ctx, "key-"+string(kt), kt)
		if err != nil {
			t.Fatalf("%s: %v", kt, err)
		}
		if !strings.HasPrefix(k.URI(), "pkcs11:") || !strings.Contains(k.URI(), "object=key-"+string(kt)) {
			t.Fatalf("%s: URI %q is not an RFC 7512 URI naming the object", kt, k.URI())
		}
		sig, err := k.SignContext(ctx, d[:], crypto.SHA256)
		if err != nil {
			t.Fatalf("%s: %v", kt, err)
		}
		verify(t, k.Public(), d[:], sig)
		if _, err := p.Generate(ctx, "key-"+string(kt), kt); !errs.Is(err, errs.Conflict) {
			t.Fatalf("%s: second Generate with the same label: %v, want a conflict", kt, err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	// Read the attributes with crypto11 directly, outside the pool.
	c, err := crypto11.Configure(&crypto11.Config{Path: env.Module, TokenLabel: "gateway", Pin: softhsm.PIN})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, kt := range signer.KeyTypes {
		k, err := c.FindKeyPair(nil, []byte("key-"+string(kt)))
		if err != nil || k == nil {
			t.Fatalf("%s: key not found: %v", kt, err)
		}
		attrs, err := c.GetAttributes(k, []crypto11.AttributeType{
			crypto11.CkaSensitive, crypto11.CkaExtractable, crypto11.CkaAlwaysSensitive, crypto11.CkaNeverExtractable, crypto11.CkaToken,
		})
		if err != nil {
			t.Fatalf("%s: %v", kt, err)
		}
		want := map[crypto11.AttributeType]bool{
			crypto11.CkaSensitive: true, crypto11.CkaExtractable: false,
			crypto11.CkaAlwaysSensitive: true, crypto11.CkaNeverExtractable: true, crypto11.CkaToken: true,
		}
		for at, w := range want {
			a := attrs[at]
			if a == nil || len(a.Value) != 1 || (a.Value[0] != 0) != w {
				t.Fatalf("%s: attribute %#x = %v, want %v", kt, at, a, w)
			}
		}
	}
}

// importKey writes a fresh P-256 key as PKCS#8 PEM and imports it into each
// token under label.
func importKey(t *testing.T, env *softhsm.Env, label string, tokens ...string) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	f := filepath.Join(t.TempDir(), "k.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens {
		env.Import(t, tok, f, label)
	}
	return k
}

// twoTokenPool is a pool over the tokens "a" and "b" of env, closed when
// t ends. Separate copies of the module behave like two HSMs: one can be
// finalized and re-initialised without touching the other.
func twoTokenPool(t *testing.T, env *softhsm.Env) *signer.Pool {
	t.Helper()
	p, err := signer.NewPool(poolConfig(
		signer.Member{Module: env.CopyModule(t), TokenLabel: "a"},
		signer.Member{Module: env.CopyModule(t), TokenLabel: "b"},
	))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// Two tokens hold the same key. Signing goes on while one token's
// directory is moved away in the middle of a run, the pool returns to it
// when it comes back, and with both gone the error is 5xx-class.
func TestSoftHSMPoolSurvivesTokenRemoval(t *testing.T) {
	env := softhsm.New(t, "a", "b")
	priv := importKey(t, env, "ca", "a", "b")
	p := twoTokenPool(t, env)
	ctx := context.Background()
	k, err := p.Key(ctx, p.URI("ca"))
	if err != nil {
		t.Fatal(err)
	}
	if !priv.PublicKey.Equal(k.Public()) {
		t.Fatal("pool key is not the imported key")
	}

	var failures atomic.Int64
	var signed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := sha256.Sum256([]byte("run"))
			for {
				select {
				case <-stop:
					return
				default:
				}
				sig, err := k.SignContext(ctx, d[:], crypto.SHA256)
				if err != nil {
					t.Errorf("sign during the run: %v", err)
					failures.Add(1)
					continue
				}
				verify(t, k.Public(), d[:], sig)
				signed.Add(1)
			}
		}()
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("timed out waiting for %s; status %+v", what, p.Status())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("signatures on both members", func() bool {
		st := p.Status()
		return st[0].Signs > 50 && st[1].Signs > 50
	})

	dirB := env.TokenDir(t, "b")
	// Out of the token directory: SoftHSM finds a token anywhere inside it.
	away := filepath.Join(env.Dir, "b-away")
	if err := os.Rename(dirB, away); err != nil {
		t.Fatal(err)
	}
	waitFor("member b to go down", func() bool { return p.Status()[1].State == "down" })
	atDown := signed.Load()
	waitFor("signing to go on without b", func() bool { return signed.Load() > atDown+200 })
	// b stays down while its token is away: reconnect attempts fail.
	time.Sleep(500 * time.Millisecond)
	if st := p.Status()[1]; st.State != "down" || st.Opens < 2 {
		t.Fatalf("member b while its token is away: %+v, want down after reconnect attempts", st)
	}

	if err := os.Rename(away, dirB); err != nil {
		t.Fatal(err)
	}
	waitFor("member b to come back", func() bool { return p.Status()[1].State == "up" })
	back := p.Status()[1].Signs
	waitFor("signatures on b again", func() bool { return p.Status()[1].Signs > back+50 })
	close(stop)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d signatures failed while at least one member was up", n)
	}

	// Both tokens gone: the error is Unavailable (a 5xx), never a client error.
	dirA := env.TokenDir(t, "a")
	if err := os.Rename(dirA, filepath.Join(env.Dir, "a-away")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dirB, away); err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("none left"))
	var lastErr error
	for range 10 {
		if _, lastErr = k.SignContext(ctx, d[:], crypto.SHA256); lastErr != nil {
			break
		}
	}
	if lastErr == nil {
		t.Fatal("signed with both tokens gone")
	}
	if errs.ClientFault(lastErr) || errs.KindOf(lastErr) != errs.Unavailable {
		t.Fatalf("error with no member left: kind %s: %v; want unavailable", errs.KindOf(lastErr), lastErr)
	}
	if p.Check(ctx) == nil {
		t.Fatal("Check passes with both tokens gone")
	}
}

// A wrong PIN fails NewPool once with a message that says so.
func TestSoftHSMWrongPIN(t *testing.T) {
	env := softhsm.New(t, "gateway")
	cfg := poolConfig(signer.Member{Module: env.Module, TokenLabel: "gateway"})
	cfg.PIN = "9999"
	p, err := signer.NewPool(cfg)
	if err == nil {
		p.Close()
		t.Fatal("NewPool accepted a wrong PIN")
	}
	if !strings.Contains(err.Error(), "PIN incorrect") || strings.Contains(err.Error(), "9999") {
		t.Fatalf("error %q should name the PIN failure and not the PIN", err)
	}
	// The right PIN still works: the token was not locked by retries.
	cfg.PIN = softhsm.PIN
	p, err = signer.NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
}

// A session that sat idle through several health checks still signs.
func TestSoftHSMIdleSessionStillSigns(t *testing.T) {
	_, p := tokenPool(t)
	ctx := context.Background()
	k, err := p.Generate(ctx, "idle", signer.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("idle"))
	for i := range 2 {
		sig, err := k.SignContext(ctx, d[:], crypto.SHA256)
		if err != nil {
			t.Fatalf("signature %d: %v", i, err)
		}
		verify(t, k.Public(), d[:], sig)
		if i == 0 {
			time.Sleep(3 * time.Second) // 15 health intervals
		}
	}
	if st := p.Status()[0]; st.State != "up" || st.Opens != 1 {
		t.Fatalf("member after idling: %+v, want up with a single log-in", st)
	}
}

// Destroy removes the key pair, private and public objects, from every
// token of the pool, leaves the other keys alone, and succeeds again for a
// key that is already gone or never existed.
func TestSoftHSMDestroy(t *testing.T) {
	env := softhsm.New(t, "a", "b")
	importKey(t, env, "ca", "a", "b")
	importKey(t, env, "ocsp-old", "a", "b")
	p := twoTokenPool(t, env)
	ctx := context.Background()
	d := sha256.Sum256([]byte("tbs"))
	for _, label := range []string{"ca", "ocsp-old"} {
		k, err := p.Key(ctx, p.URI(label))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.SignContext(ctx, d[:], crypto.SHA256); err != nil {
			t.Fatal(err)
		}
	}
	for _, label := range []string{"ocsp-old", "ocsp-old", "never-was"} {
		if err := p.Destroy(ctx, p.URI(label)); err != nil {
			t.Fatalf("Destroy(%s): %v", label, err)
		}
	}
	if _, err := p.Key(ctx, p.URI("ocsp-old")); !errs.Is(err, errs.NotFound) {
		t.Fatalf("Key after Destroy: %v, want not found", err)
	}
	k, err := p.Key(ctx, p.URI("ca"))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := k.SignContext(ctx, d[:], crypto.SHA256)
	if err != nil {
		t.Fatalf("the key left in the tokens no longer signs: %v", err)
	}
	verify(t, k.Public(), d[:], sig)
	if err := p.Destroy(ctx, "pkcs11:object=x?pin-value=1234"); !errs.Is(err, errs.Config) {
		t.Fatalf("Destroy of a URI with a PIN: %v, want a config error", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	for _, tok := range []string{"a", "b"} {
		if n := objectsLabelled(t, env.Module, tok, "ocsp-old"); n != 0 {
			t.Errorf("token %s still holds %d objects labelled ocsp-old", tok, n)
		}
		if n := objectsLabelled(t, env.Module, tok, "ca"); n != 2 {
			t.Errorf("token %s holds %d objects labelled ca, want its key pair", tok, n)
		}
	}
}

// objectsLabelled counts the objects of every class with the label in the
// token, through PKCS#11 directly: crypto11 finds only complete pairs, so
// it would not see a public key left behind.
func objectsLabelled(t *testing.T, module, token, label string) int {
	t.Helper()
	c := pkcs11.New(module)
	if err := c.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	defer c.Finalize()
	slots, err := c.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, slot := range slots {
		info, err := c.GetTokenInfo(slot)
		if err != nil || info.Label != token {
			continue
		}
		s, err := c.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseSession(s)
		if err := c.Login(s, pkcs11.CKU_USER, softhsm.PIN); err != nil {
			t.Fatal(err)
		}
		defer c.Logout(s)
		if err := c.FindObjectsInit(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)}); err != nil {
			t.Fatal(err)
		}
		objs, _, err := c.FindObjects(s, 16)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.FindObjectsFinal(s); err != nil {
			t.Fatal(err)
		}
		return len(objs)
	}
	t.Fatalf("no token labelled %q", token)
	return 0
}

// Wrap makes the AES key in the token on first use (sensitive, never
// extractable); Unwrap gives back what Wrap sealed, and nothing that was
// changed, bound to other data, or never wrapped.
func TestSoftHSMWrapUnwrap(t *testing.T) {
	env, p := tokenPool(t)
	ctx := context.Background()
	secret, ad := []byte("0123456789abcdef0123456789abcdef"), []byte("gateway-kek")
	if _, err := p.Unwrap(ctx, "kek", make([]byte, 64), ad); !errs.Is(err, errs.NotFound) {
		t.Fatalf("Unwrap before any key exists: %v, want not found", err)
	}
	wrapped, err := p.Wrap(ctx, "kek", secret, ad)
	if err != nil {
		t.Fatal(err)
	}
	again, err := p.Wrap(ctx, "kek", secret, ad) // the same key, a new nonce
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(wrapped, again) || bytes.Contains(wrapped, secret) {
		t.Fatalf("wrapped %x and %x: nonces repeat or the secret shows", wrapped, again)
	}
	for _, w := range [][]byte{wrapped, again} {
		got, err := p.Unwrap(ctx, "kek", w, ad)
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("Unwrap = %q, %v; want the secret", got, err)
		}
	}
	flipped := bytes.Clone(wrapped)
	flipped[len(flipped)-1] ^= 1
	for name, tc := range map[string]struct{ w, ad []byte }{
		"changed byte": {flipped, ad},
		"other data":   {wrapped, []byte("other")},
		"too short":    {wrapped[:8], ad},
	} {
		if got, err := p.Unwrap(ctx, "kek", tc.w, tc.ad); !errs.Is(err, errs.Malformed) {
			t.Errorf("%s: Unwrap = %q, %v; want a Malformed error", name, got, err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	c, err := crypto11.Configure(&crypto11.Config{Path: env.Module, TokenLabel: "gateway", Pin: softhsm.PIN})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := c.FindKeys(nil, []byte("kek"))
	if err != nil || len(keys) != 1 {
		t.Fatalf("secret keys labelled kek: %d, %v; want one", len(keys), err)
	}
	attrs, err := c.GetAttributes(keys[0], []crypto11.AttributeType{
		crypto11.CkaSensitive, crypto11.CkaExtractable, crypto11.CkaNeverExtractable, crypto11.CkaToken,
	})
	if err != nil {
		t.Fatal(err)
	}
	for at, w := range map[crypto11.AttributeType]bool{
		crypto11.CkaSensitive: true, crypto11.CkaExtractable: false, crypto11.CkaNeverExtractable: true, crypto11.CkaToken: true,
	} {
		if a := attrs[at]; a == nil || len(a.Value) != 1 || (a.Value[0] != 0) != w {
			t.Errorf("attribute %#x = %v, want %v", at, a, w)
		}
	}

	// Two replicas that started at once may each have made a key under
	// the label: what either wrapped still unwraps.
	if _, err := c.GenerateSecretKeyWithLabel([]byte("second"), []byte("kek"), 256, crypto11.CipherAES); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	p = poolOver(t, env)
	if got, err := p.Unwrap(ctx, "kek", wrapped, ad); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Unwrap with two keys under the label = %q, %v; want the secret", got, err)
	}
}

// An RSA key in the token decrypts what was encrypted to its public key,
// with PKCS #1 v1.5 (SCEP envelopes) and OAEP; an ECDSA key refuses.
func TestSoftHSMDecrypt(t *testing.T) {
	_, p := tokenPool(t)
	ctx := context.Background()
	k, err := p.Generate(ctx, "ra", signer.RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	pub := k.Public().(*rsa.PublicKey)
	secret := []byte("a content-encryption key, 32 b.")
	v15, err := rsa.EncryptPKCS1v15(rand.Reader, pub, secret)
	if err != nil {
		t.Fatal(err)
	}
	oaep, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		ct   []byte
		opts crypto.DecrypterOpts
	}{
		"pkcs1v15": {v15, &rsa.PKCS1v15DecryptOptions{}},
		"nil opts": {v15, nil},
		"oaep":     {oaep, &rsa.OAEPOptions{Hash: crypto.SHA1}}, // SoftHSM's only OAEP hash
	} {
		got, err := k.Decrypt(nil, tc.ct, tc.opts)
		if err != nil || !bytes.Equal(got, secret) {
			t.Errorf("%s: Decrypt = %q, %v; want the secret", name, got, err)
		}
	}
	garbled := bytes.Clone(v15)
	garbled[10] ^= 0xff
	// SoftHSM answers CKR_GENERAL_ERROR: the token must stay up.
	for range 3 {
		if _, err := k.Decrypt(nil, garbled, nil); !errs.Is(err, errs.Malformed) {
			t.Fatalf("garbled ciphertext: %v, want malformed", err)
		}
	}
	if err := p.Check(ctx); err != nil {
		t.Fatalf("the pool is down after garbled ciphertexts: %v", err)
	}
	ec, err := p.Generate(ctx, "ec", signer.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ec.Decrypt(nil, v15, nil); !errs.Is(err, errs.Internal) {
		t.Fatalf("ECDSA key Decrypt: %v, want an internal error", err)
	}
	if _, err := k.Sign(rand.Reader, make([]byte, 32), crypto.SHA256); err != nil {
		t.Fatalf("the RSA key no longer signs after decrypting: %v", err)
	}
}
