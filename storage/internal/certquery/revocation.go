package certquery

import (
	"errors"
	"fmt"

	"github.com/certgw/gateway/storage"
)

// CheckPublished is what both stores refuse in PublishCRL before asking
// the database.
func CheckPublished(c storage.PublishedCRL) error {
	switch {
	case c.Number < 1:
		return errors.New("CRL number must be at least 1")
	case len(c.DER) == 0:
		return errors.New("no DER")
	case c.NextUpdate.Before(c.ThisUpdate):
		return errors.New("nextUpdate is before thisUpdate")
	case c.Generation < 0:
		return errors.New("negative generation")
	}
	for i, der := range c.Shards {
		if len(der) == 0 {
			return fmt.Errorf("no DER for shard %d", i)
		}
	}
	if d := c.Delta; d != nil {
		switch {
		case d.Number <= c.Number:
			return fmt.Errorf("delta CRL number %d is not above the CRL's %d", d.Number, c.Number)
		case d.Base < 1 || d.Base > c.Number:
			return fmt.Errorf("delta CRL base %d is not a CRL number up to %d", d.Base, c.Number)
		case d.BaseThisUpdate.After(c.ThisUpdate) || d.BaseGeneration < 0 || d.BaseGeneration > c.Generation:
			return errors.New("delta CRL base is after the CRL")
		case d.NextUpdate.Before(c.ThisUpdate):
			return errors.New("delta CRL nextUpdate is before thisUpdate")
		case len(d.DER) == 0:
			return errors.New("no DER for the delta CRL")
		}
	}
	return nil
}

// CheckRevokedLimit is CheckLimit for the larger pages of the revocation
// service: limit capped at storage.MaxRevokedLimit.
func CheckRevokedLimit(limit int) (int, error) {
	if limit < 1 {
		return 0, errors.New("limit must be at least 1")
	}
	return min(limit, storage.MaxRevokedLimit), nil
}
