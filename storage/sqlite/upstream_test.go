package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/storagetest"
)

func TestUpstreamConformance(t *testing.T) {
	storagetest.RunUpstream(t, func(t *testing.T) storage.UpstreamStore {
		return openTemp(t, filepath.Join(t.TempDir(), "gateway.db"))
	})
}
