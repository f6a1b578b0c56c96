package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/storagetest"
)

func TestACMEConformance(t *testing.T) {
	storagetest.RunACME(t, func(t *testing.T) storage.ACMEStore {
		return openTemp(t, filepath.Join(t.TempDir(), "gateway.db"))
	})
}
