package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/storagetest"
)

func TestSCEPConformance(t *testing.T) {
	storagetest.RunSCEP(t, func(t *testing.T) storage.SCEPStore {
		return openTemp(t, filepath.Join(t.TempDir(), "gateway.db"))
	})
}
