package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/storagetest"
)

func TestESTConformance(t *testing.T) {
	storagetest.RunEST(t, func(t *testing.T) storage.ESTStore {
		return openTemp(t, filepath.Join(t.TempDir(), "gateway.db"))
	})
}
