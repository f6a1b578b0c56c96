package crl

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
)

// Defaults of Config.
const (
	DefaultValidity     = 24 * time.Hour
	DefaultRebuildEvery = 6 * time.Hour
	DefaultCoalesce     = 500 * time.Millisecond
	DefaultPollInterval = 2 * time.Second
	DefaultMaxAge       = time.Minute
	DefaultPageSize     = 5000
)

// Config configures CRL publication. It is filled by cmd/gateway from the
// configuration file; zero fields take the defaults above.
type Config struct {
	// Validity and RebuildEvery apply to every CA without its own values
	// in CAs.
	CAConfig
	CAs map[string]CAConfig
	// Coalesce is how long the publisher waits after a revocation before
	// it rebuilds, so that a burst of revocations makes one CRL.
	Coalesce time.Duration
	// PollInterval is how often the store is asked whether another
	// replica revoked a certificate or published a newer CRL.
	PollInterval time.Duration
	// MaxAge caps the Cache-Control max-age of the HTTP answers; it never
	// reaches past nextUpdate.
	MaxAge time.Duration
	// PageSize is how many entries one store query reads.
	PageSize int
	// LintSample, see Builder.
	LintSample int
	// URLs name the shards of partitioned CRLs (URLs.CRLShard), whose
	// number per CA is ca.Authority.CRLShards: the issuingDistributionPoint
	// of each shard is the URL the issuer put in the CRL distribution
	// point of its certificates, so both must use the same URLs.
	URLs ca.URLs
	// Dir, if set, receives every CRL this process serves as files,
	// written atomically when it changes (PublishDir), for a tool that
	// copies them to the mirrors of cas[].crl_mirrors.
	Dir string
}

// CAConfig is the schedule of one CA's CRL.
type CAConfig struct {
	// Validity is nextUpdate - thisUpdate (RFC 5280 5.1.2.5). CA/B Forum BR
	// 7.2.2 and zlint's e_crl_next_update_invalid allow at most 10 days.
	Validity time.Duration
	// RebuildEvery is how old a CRL may get before a new one is built even
	// without a revocation; it must leave time before nextUpdate.
	RebuildEvery time.Duration
	// DeltaValidity, when set, turns delta CRLs on (RFC 5280 5.2.4): each
	// rebuild also builds a delta CRL valid this long, listing the
	// revocations since its base, and the CRL is rebuilt every half of it.
	// The base is the complete CRL of the last RebuildEvery: validators
	// that fetched it, or a later one, complete it with the small delta.
	DeltaValidity time.Duration
}

// minDeltaValidity bounds how often delta CRLs make the CA rebuild: every
// 5 minutes at most.
const minDeltaValidity = 10 * time.Minute

// maxValidity is the CA/B Forum limit for CRLs of subscriber certificates.
const maxValidity = 10 * 24 * time.Hour

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	c.CAConfig = c.CAConfig.withDefaults(CAConfig{Validity: DefaultValidity, RebuildEvery: DefaultRebuildEvery})
	if c.Coalesce == 0 {
		c.Coalesce = DefaultCoalesce
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	return c
}

func (c CAConfig) withDefaults(d CAConfig) CAConfig {
	if c.Validity == 0 {
		c.Validity = d.Validity
	}
	if c.RebuildEvery == 0 {
		c.RebuildEvery = d.RebuildEvery
	}
	if c.DeltaValidity == 0 {
		c.DeltaValidity = d.DeltaValidity
	}
	return c
}

// every is how old a CRL may get before it is rebuilt: RebuildEvery, or
// half the delta CRLs' validity if that is sooner.
func (c CAConfig) every() time.Duration {
	if c.DeltaValidity > 0 {
		return min(c.RebuildEvery, c.DeltaValidity/2)
	}
	return c.RebuildEvery
}

// For returns the schedule of the named CA.
func (c Config) For(ca string) CAConfig {
	return c.CAs[ca].withDefaults(c.CAConfig)
}

// Validate reports every problem of c (after WithDefaults) at once, each
// with its configuration path, as an errs.Config error.
func (c Config) Validate() error {
	var bad []string
	check := func(path string, cc CAConfig) {
		switch {
		case cc.Validity <= 0:
			bad = append(bad, path+".validity: must be positive")
		case cc.Validity > maxValidity:
			bad = append(bad, fmt.Sprintf("%s.validity: at most %s (CA/B Forum BR 7.2.2)", path, maxValidity))
		}
		// A CRL must be rebuilt well before it expires: at the latest
		// half-way, so that one failed rebuild still leaves time.
		if cc.RebuildEvery <= 0 || cc.RebuildEvery > cc.Validity/2 {
			bad = append(bad, fmt.Sprintf("%s.rebuild_every: must be positive and at most half the validity (%s)", path, cc.Validity/2))
		}
		if d := cc.DeltaValidity; d != 0 && (d < minDeltaValidity || d > cc.RebuildEvery) {
			bad = append(bad, fmt.Sprintf("%s.delta_validity: 0 (no delta CRLs) or from %s to rebuild_every (%s), got %s",
				path, minDeltaValidity, cc.RebuildEvery, d))
		}
	}
	check("crl", c.CAConfig)
	names := make([]string, 0, len(c.CAs))
	for n := range c.CAs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		check(fmt.Sprintf("crl.cas[%s]", n), c.For(n))
	}
	if c.Coalesce < 0 || c.Coalesce > 10*time.Second {
		bad = append(bad, "crl.coalesce: between 0 and 10s (revocations must show within seconds)")
	}
	if c.PollInterval <= 0 || c.PollInterval > time.Minute {
		bad = append(bad, "crl.poll_interval: must be positive and at most 1m")
	}
	if c.MaxAge < 0 {
		bad = append(bad, "crl.max_age: must not be negative")
	}
	if c.PageSize < 1 || c.PageSize > 10000 {
		bad = append(bad, "crl.page_size: between 1 and 10000")
	}
	if len(bad) > 0 {
		return errs.New(errs.Config, "%s", strings.Join(bad, "; "))
	}
	return nil
}
