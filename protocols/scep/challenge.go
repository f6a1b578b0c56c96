package scep

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/notify"
	"github.com/certgw/gateway/storage"
)

// ChallengeStore keeps one-time challenges (storage.SCEPStore).
type ChallengeStore interface {
	InsertSCEPChallenge(ctx context.Context, c storage.SCEPChallenge, audit storage.AuditEvent) error
	UseSCEPChallenge(ctx context.Context, profile string, hash []byte, now time.Time) error
}

// MaxChallengeValidity bounds how long a one-time challenge may wait for
// its device.
const MaxChallengeValidity = 30 * 24 * time.Hour

// CreateChallenge makes a one-time challengePassword for one first
// enrollment under profile, valid for validFor, as an MDM hands one to
// each device (NDES calls them dynamic challenges). The store keeps its
// hash; the audit names who made it and until when, never the challenge.
// `gateway scep challenge` and POST /api/v1/profiles/P/scep/challenges
// both call it.
func CreateChallenge(ctx context.Context, st ChallengeStore, profile, actor string, now time.Time, validFor time.Duration) (challenge string, expires time.Time, err error) {
	if validFor <= 0 || validFor > MaxChallengeValidity {
		return "", time.Time{}, errs.New(errs.Malformed, "a challenge is valid for more than 0 and at most %s, not %s", MaxChallengeValidity, validFor)
	}
	b := make([]byte, 16)
	rand.Read(b)
	challenge = hex.EncodeToString(b)
	h := sha256.Sum256([]byte(challenge))
	expires = now.Add(validFor).UTC()
	if err := st.InsertSCEPChallenge(ctx, storage.SCEPChallenge{Profile: profile, Hash: h[:], Expires: expires, CreatedAt: now}, storage.AuditEvent{
		At: now, Actor: actor, Action: "scep-challenge-create", Profile: profile, Detail: "valid until " + expires.Format(time.RFC3339),
	}); err != nil {
		return "", time.Time{}, err
	}
	return challenge, expires, nil
}

// checkChallenge authenticates a first enrollment: its challengePassword
// is the profile's static one (compared in constant time) or a one-time
// challenge, which it uses up. A one-time challenge is used up even if the
// request is then refused, as NDES does: the device asks for a new one.
func (s *Server) checkChallenge(ctx context.Context, ps *profileState, addr, got string, csr *x509.CertificateRequest) (requester string, err error) {
	if got == "" {
		return "", errs.New(errs.Unauthorized, "the CSR carries no challengePassword")
	}
	now := s.now()
	if s.failed.Blocked(ctx, addr, now) {
		return "", errs.New(errs.Unauthorized, "too many wrong challengePasswords from %s lately: try again in %s", addr, challengeFailureWindow)
	}
	h := sha256.Sum256([]byte(got))
	if ps.set.Challenge != "" {
		want := sha256.Sum256([]byte(ps.set.Challenge))
		if subtle.ConstantTimeCompare(h[:], want[:]) == 1 {
			return "scep challenge", nil
		}
	}
	err = s.challenges.UseSCEPChallenge(ctx, ps.name, h[:], now)
	switch {
	case errs.Is(err, errs.NotFound):
		why := "neither the profile's nor a one-time challenge of it that is unused and unexpired"
		if w := ps.set.ChallengeWebhook; w != nil {
			allowed, reason, err := w.ask(ctx, ps.name, got, addr, csr)
			if err != nil {
				return "", err
			}
			if allowed {
				return "scep challenge webhook", nil
			}
			why = "the profile's challenge webhook refused it: " + reason
		}
		if err := s.failed.Add(ctx, addr, now); err != nil {
			s.log.Warn("SCEP: a wrong challenge is counted by this replica alone: the store did not record it", "profile", ps.name, "addr", addr, "err", err)
		}
		return "", errs.New(errs.Unauthorized, "wrong challengePassword: %s", why)
	case err != nil:
		return "", err
	}
	return "scep one-time challenge", nil
}

// ChallengeWebhook is asked about a challengePassword that is neither the
// profile's nor a one-time one (profiles[].scep.challenge_url): an MDM
// that handed each device a challenge of its own (Intune, Jamf, a device
// inventory) decides. The gateway POSTs JSON: the profile, the challenge,
// the client's address, and the CSR with its subject and names; signed
// as the gateway's other webhooks are when Secret is set (header
// X-Gateway-Signature: sha256=HEX(HMAC-SHA256(secret, body))). A 200
// whose JSON says {"allow": true} enrolls the device; {"allow": false,
// "reason": "..."}, or any other status, refuses it; a webhook that does
// not answer (or answers 5xx) is a 503 the device retries.
type ChallengeWebhook struct {
	URL    string
	Secret []byte
	Client *http.Client // nil: a client with a 10-second timeout
}

// challengeRequest is the body a ChallengeWebhook gets.
type challengeRequest struct {
	Profile       string   `json:"profile"`
	Challenge     string   `json:"challenge"`
	ClientAddress string   `json:"client_address"`
	Subject       string   `json:"subject"`
	DNSNames      []string `json:"dns_names"`
	IPAddresses   []string `json:"ip_addresses"`
	Emails        []string `json:"emails"`
	URIs          []string `json:"uris"`
	CSR           string   `json:"csr"` // PEM
}

// ask asks the webhook whether challenge enrolls the device behind csr.
func (w *ChallengeWebhook) ask(ctx context.Context, profile, challenge, addr string, csr *x509.CertificateRequest) (allowed bool, reason string, err error) {
	body, err := json.Marshal(challengeRequest{
		Profile: profile, Challenge: challenge, ClientAddress: addr, Subject: csr.Subject.String(),
		DNSNames: nonNil(csr.DNSNames), IPAddresses: nonNil(ca.Strings(csr.IPAddresses)), Emails: nonNil(csr.EmailAddresses), URIs: nonNil(ca.Strings(csr.URIs)),
		CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr.Raw})),
	})
	if err != nil {
		return false, "", errs.Wrap(errs.Internal, err, "challenge webhook request")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return false, "", errs.Wrap(errs.Config, err, "profiles %s: scep.challenge_url", profile)
	}
	req.Header.Set("Content-Type", "application/json")
	if len(w.Secret) > 0 {
		req.Header.Set(notify.SignatureHeader, notify.Sign(w.Secret, body))
	}
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, "", errs.Wrap(errs.Unavailable, err, "SCEP challenge webhook of profile %s", profile)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 500 {
		return false, "", errs.New(errs.Unavailable, "SCEP challenge webhook of profile %s answered %s", profile, resp.Status)
	}
	var answer struct {
		Allow  bool   `json:"allow"`
		Reason string `json:"reason"`
	}
	if resp.StatusCode != http.StatusOK {
		return false, "it answered " + resp.Status, nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&answer); err != nil {
		return false, "its answer is not JSON with \"allow\"", nil
	}
	if !answer.Allow && answer.Reason == "" {
		answer.Reason = "no reason given"
	}
	return answer.Allow, answer.Reason, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Wrong challenges from one client address are throttled: after
// maxChallengeFailures within challengeFailureWindow, its first
// enrollments are refused without looking at the challenge until the
// window has passed, so that a static challenge an operator chose cannot
// be guessed at line speed (package throttle). Each replica counts its own.
const (
	maxChallengeFailures   = 10
	challengeFailureWindow = 10 * time.Minute
)
