package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/storagetest"
)

func TestRequestConformance(t *testing.T) {
	storagetest.RunRequests(t, func(t *testing.T) storage.Store {
		return openTemp(t, filepath.Join(t.TempDir(), "gateway.db"))
	})
}
