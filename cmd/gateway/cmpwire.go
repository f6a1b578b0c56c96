package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/internal/ratelimit"
	"github.com/certgw/gateway/protocols/cmp"
	"github.com/certgw/gateway/storage"
)

// newCMP builds the CMP server of the profiles that allow "cmp", each with
// its shared secret read from cmp.secret_file; requests whose protection
// failed are counted in the store, for every replica.
func newCMP(cfg *config.Config, core *ca.Core, st storage.Store, limited func(string), log *slog.Logger) (*cmp.Server, error) {
	profiles := map[string]cmp.ProfileSettings{}
	for i, p := range cfg.Profiles {
		if !p.Allows("cmp") {
			continue
		}
		b, err := os.ReadFile(p.CMP.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("profiles[%d].cmp.secret_file: %w", i, err)
		}
		secret := strings.TrimRight(string(b), "\r\n")
		if secret == "" {
			return nil, fmt.Errorf("profiles[%d].cmp.secret_file: %s is empty", i, p.CMP.SecretFile)
		}
		a, ok := core.CAs[p.CA]
		if !ok {
			return nil, fmt.Errorf("profiles[%d]: CA %s is not loaded", i, p.CA)
		}
		profiles[p.Name] = cmp.ProfileSettings{Reference: p.CMP.Reference, Secret: []byte(secret), CA: a}
	}
	return cmp.New(cmp.Config{CA: core, Profiles: profiles, Failures: st, Shared: st,
		Limiter: ratelimit.New(cfg.CMP.IssuancesPerMinute, "cmp.issuances_per_minute").Observe(limited),
		Log:     log.With("protocol", "cmp"), Now: time.Now}), nil
}
