package postgres

import (
	"testing"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/storagetest"
)

func TestACMEConformance(t *testing.T) {
	storagetest.RunACME(t, func(t *testing.T) storage.ACMEStore {
		s, _ := openTemp(t)
		return s
	})
}
