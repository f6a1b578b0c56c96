package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/internal/ratelimit"
	"github.com/certgw/gateway/protocols/scep"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/storage"
)

// newSCEP builds the SCEP server for `gateway serve`, which mounts its
// Routes on the HTTP listener: SCEP protects its messages itself (CMS
// signatures and envelopes), and devices speak it over plain HTTP.
func newSCEP(ctx context.Context, cfg *config.Config, core *ca.Core, st storage.Store, sg signer.Signer, limited func(string), log *slog.Logger) (*scep.Server, error) {
	profiles := map[string]scep.ProfileSettings{}
	for i, p := range cfg.Profiles {
		if !p.Allows("scep") {
			continue
		}
		set := scep.ProfileSettings{RevokeOnRenewal: p.SCEP.RevokeOnRenewal}
		if f := p.SCEP.ChallengeFile; f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("profiles[%d].scep.challenge_file: %w", i, err)
			}
			if set.Challenge = strings.TrimRight(string(b), "\r\n"); set.Challenge == "" {
				return nil, fmt.Errorf("profiles[%d].scep.challenge_file: %s is empty", i, f)
			}
		}
		if u := p.SCEP.ChallengeURL; u != "" {
			set.ChallengeWebhook = &scep.ChallengeWebhook{URL: u}
			if f := p.SCEP.ChallengeSecretFile; f != "" {
				b, err := os.ReadFile(f)
				if err != nil {
					return nil, fmt.Errorf("profiles[%d].scep.challenge_secret_file: %w", i, err)
				}
				if set.ChallengeWebhook.Secret = []byte(strings.TrimSpace(string(b))); len(set.ChallengeWebhook.Secret) == 0 {
					return nil, fmt.Errorf("profiles[%d].scep.challenge_secret_file: %s is empty", i, f)
				}
			}
		}
		profiles[p.Name] = set
	}
	return scep.New(ctx, scep.Config{Core: core, Store: st, Challenges: st, Signer: sg, Profiles: profiles,
		Limiter: ratelimit.New(cfg.SCEP.IssuancesPerMinute, "scep.issuances_per_minute").Observe(limited), Log: log, Now: time.Now})
}
