package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/storagetest"
)

func TestKeystoreConformance(t *testing.T) {
	storagetest.RunKeystore(t, func(t *testing.T) storage.KeystoreStore {
		return openTemp(t, filepath.Join(t.TempDir(), "gateway.db"))
	})
}
