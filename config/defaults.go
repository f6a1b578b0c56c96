package config

import (
	"slices"
	"time"
)

// Defaults of keys left empty. The quickstart writes most of them out in
// var/gateway.yaml anyway, so a reader sees what runs.
const (
	DefaultHTTPS             = ":8443"
	DefaultHTTP              = ":8080"
	DefaultPublicURL         = "http://localhost:8080"
	DefaultSQLitePath        = "var/gateway.db"
	DefaultMaxSessions       = 8
	DefaultSessionWait       = 5 * time.Second
	DefaultHealthInterval    = 30 * time.Second
	DefaultReconnectInterval = 5 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultRootValidity      = 20 * 365 * 24 * time.Hour
	DefaultIssuingValidity   = 10 * 365 * 24 * time.Hour
	DefaultTLSValidity       = 30 * 24 * time.Hour
	DefaultMaxValidity       = 397 * 24 * time.Hour
	DefaultLeafValidity      = 90 * 24 * time.Hour
)

func (c *Config) setDefaults() {
	setStr(&c.Log.Format, "text")
	setStr(&c.Log.Level, "info")
	setStr(&c.Listen.HTTPS, DefaultHTTPS)
	setStr(&c.Listen.HTTP, DefaultHTTP)
	setStr(&c.Listen.PublicURL, DefaultPublicURL)
	setDur(&c.Listen.ShutdownTimeout, DefaultShutdownTimeout)
	if c.Listen.TLS.Auto {
		setStr(&c.Listen.TLS.CA, "issuing")
		setDur(&c.Listen.TLS.Validity, DefaultTLSValidity)
		if len(c.Listen.TLS.DNSNames) == 0 && len(c.Listen.TLS.IPAddresses) == 0 {
			c.Listen.TLS.DNSNames = []string{"localhost"}
			c.Listen.TLS.IPAddresses = []string{"127.0.0.1"}
		}
	}
	setStr(&c.Storage.Driver, "sqlite")
	if c.Storage.Driver == "sqlite" {
		setStr(&c.Storage.Path, DefaultSQLitePath)
	}
	setDur(&c.Storage.Tidy.Every, time.Hour)
	setDur(&c.Storage.Tidy.ACMEOrdersAfter, 30*24*time.Hour)
	setDur(&c.Storage.Tidy.NotificationsAfter, 30*24*time.Hour)
	setStr(&c.Keystore.KEKFile, "var/kek")
	setDur(&c.Renewal.Interval, time.Hour)
	setStr(&c.Signer.Type, "pkcs11")
	if c.Signer.Type == "pkcs11" {
		setStr(&c.Keystore.Wrap, WrapToken)
	} else {
		setStr(&c.Keystore.Wrap, WrapNone)
	}
	setStr(&c.Keystore.KEKLabel, "gateway-kek")
	setDur(&c.Audit.CheckpointEvery, 10*time.Minute)
	setStr(&c.Audit.KeyLabel, "gateway-audit")
	setDur(&c.Audit.ForwardEvery, 10*time.Second)
	for i := range c.API.OIDC {
		setDur(&c.API.OIDC[i].MaxLifetime, 24*time.Hour)
	}
	p := &c.Signer.PKCS11
	if p.MaxSessions == 0 {
		p.MaxSessions = DefaultMaxSessions
	}
	setDur(&p.SessionWait, DefaultSessionWait)
	setDur(&p.HealthInterval, DefaultHealthInterval)
	setDur(&p.ReconnectInterval, DefaultReconnectInterval)
	for i := range c.CAs {
		ca := &c.CAs[i]
		if ca.Parent == "" && !ca.External {
			setStr(&ca.Key.Type, "ecdsa-p384")
			setDur(&ca.Validity, DefaultRootValidity)
		} else {
			setStr(&ca.Key.Type, "ecdsa-p256")
			setDur(&ca.Validity, DefaultIssuingValidity)
		}
		setStr(&ca.Key.Label, "gateway-"+ca.Name)
		setStr(&ca.Subject.CommonName, "Gateway "+ca.Name+" CA")
		// CA subjects must carry O and C (CA/B Forum BR 7.1.2.10.2); XX is
		// the ISO 3166 user-assigned code the BRs allow when no country
		// applies.
		setStr(&ca.Subject.Organization, "Certificate Gateway")
		setStr(&ca.Subject.Country, "XX")
	}
	for i := range c.Profiles {
		p := &c.Profiles[i]
		setDur(&p.MaxValidity, DefaultMaxValidity)
		setDur(&p.DefaultValidity, min(DefaultLeafValidity, p.MaxValidity.D()))
		if len(p.KeyTypes) == 0 {
			p.KeyTypes = []string{"ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519"}
		}
		setStr(&p.Names.CommonName, "allow")
		if p.Names.CommonNameInSAN == nil {
			yes := true
			p.Names.CommonNameInSAN = &yes
		}
		if p.Names.Max == 0 {
			p.Names.Max = 100
		}
		if p.AutoRenew.RenewBeforeDays == 0 {
			p.AutoRenew.RenewBeforeDays = 30
		}
		setDur(&p.Approval.RetryAfter, 5*time.Minute)
		setDur(&p.Approval.ExpireAfter, 7*24*time.Hour)
		if p.Approval.Approvals == 0 {
			p.Approval.Approvals = 1
		}
		if p.Notify.URL != "" && p.Notify.Events == nil {
			p.Notify.Events = slices.Clone(NotifyEvents)
		}
		if p.Notify.URL != "" {
			setDur(&p.Notify.ExpiringWithin, 14*24*time.Hour)
		}
	}
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		setStr(&u.Challenge, "http-01")
		setDur(&u.Timeout, 5*time.Minute)
		setDur(&u.DNS.PropagationTimeout, 2*time.Minute)
	}
	if c.ACME.Validation.HTTP01Port == 0 {
		c.ACME.Validation.HTTP01Port = 80
	}
	if c.ACME.Validation.TLSALPN01Port == 0 {
		c.ACME.Validation.TLSALPN01Port = 443
	}
}

func setStr(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

func setDur(d *Duration, v time.Duration) {
	if *d == 0 {
		*d = Duration(v)
	}
}
