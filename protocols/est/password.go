package est

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/crypto/argon2"

	"github.com/certgw/gateway/errs"
)

// HTTP Basic passwords are stored as argon2id hashes (RFC 9106) in the PHC
// string format, $argon2id$v=19$m=...,t=...,p=...$salt$hash, so that a copy
// of the database yields no usable password even where an operator chose a
// weak one. The parameters are OWASP's first recommendation for argon2id
// (19 MiB, two passes, one lane): about 20 ms of one core per hash here.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// HashPassword returns the argon2id hash of password in the PHC string
// format, with a fresh random salt.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", errs.Wrap(errs.Internal, err, "salt")
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// phc is a parsed argon2id hash.
type phc struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// parsePHC reads a hash written by HashPassword. It bounds the parameters,
// so that a damaged or hostile row cannot make one check take gigabytes.
func parsePHC(s string) (phc, error) {
	var h phc
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return h, errs.New(errs.Internal, "stored EST password hash is not argon2id in PHC format")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return h, errs.New(errs.Internal, "stored EST password hash: unsupported argon2 version %q", parts[2])
	}
	var p uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.memory, &h.time, &p); err != nil ||
		h.memory < 8 || h.memory > 1<<20 || h.time < 1 || h.time > 10 || p < 1 || p > 16 {
		return h, errs.New(errs.Internal, "stored EST password hash: parameters %q out of bounds", parts[3])
	}
	h.threads = uint8(p)
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return h, errs.New(errs.Internal, "stored EST password hash: bad salt")
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > 64 {
		return h, errs.New(errs.Internal, "stored EST password hash: bad key")
	}
	return h, nil
}

// CheckPassword reports whether password hashes to stored (a hash made by
// HashPassword). An error means
// the stored hash is unusable (an operator must fix it), not a wrong
// password.
func CheckPassword(stored, password string) (bool, error) {
	h, err := parsePHC(stored)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// ValidUsername checks an EST user name: HTTP Basic cannot carry a colon in
// the user-id (RFC 7617 section 2), and control characters or spaces would
// only make logs and the credentials file ambiguous.
func ValidUsername(u string) error {
	if u == "" || len(u) > 128 {
		return errs.New(errs.Malformed, "an EST user name is 1 to 128 characters")
	}
	for _, c := range u {
		if c == ':' || unicode.IsSpace(c) || !unicode.IsPrint(c) {
			return errs.New(errs.Malformed, "EST user name %q: no colon, space or control character", u)
		}
	}
	return nil
}

// verifiedCache remembers which (stored hash, password) pairs matched, so
// that a device enrolling again, or a fleet sharing one credential, costs a
// store read and an HMAC instead of an argon2id hash each time. It is keyed
// by the stored hash, so a changed or deleted password takes effect at
// once: the store is still asked on every request, and a new hash misses
// the cache. A hit means exactly what a fresh argon2id check would say.
//
// Only successes are cached: a wrong password always pays for argon2id.
// The key is an HMAC under a per-process random key, but whoever can read
// this process's memory could test guesses against an entry at HMAC speed;
// such an attacker can read the passwords of requests in flight anyway.
type verifiedCache struct {
	mu   sync.Mutex
	key  []byte
	seen map[[sha256.Size]byte]struct{}
	max  int
}

func newVerifiedCache(max int) *verifiedCache {
	k := make([]byte, 32)
	rand.Read(k)
	return &verifiedCache{key: k, seen: map[[sha256.Size]byte]struct{}{}, max: max}
}

func (c *verifiedCache) id(stored, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key)
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(len(stored)))) // no two pairs encode alike
	m.Write([]byte(stored))
	m.Write([]byte(password))
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

func (c *verifiedCache) has(stored, password string) bool {
	id := c.id(stored, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.seen[id]
	return ok
}

func (c *verifiedCache) add(stored, password string) {
	id := c.id(stored, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) >= c.max {
		clear(c.seen) // crude but bounded; a miss only costs one argon2id
	}
	c.seen[id] = struct{}{}
}
