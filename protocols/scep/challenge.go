package scep

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"time"

	"github.com/certgw/gateway/errs"
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
func (s *Server) checkChallenge(ctx context.Context, ps *profileState, addr, got string) (requester string, err error) {
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
		if err := s.failed.Add(ctx, addr, now); err != nil {
			s.log.Warn("SCEP: a wrong challenge is counted by this replica alone: the store did not record it", "profile", ps.name, "addr", addr, "err", err)
		}
		return "", errs.New(errs.Unauthorized, "wrong challengePassword: neither the profile's nor a one-time challenge of it that is unused and unexpired")
	case err != nil:
		return "", err
	}
	return "scep one-time challenge", nil
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
