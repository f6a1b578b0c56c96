package postgres

import (
	"testing"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/storagetest"
)

func TestKeystoreConformance(t *testing.T) {
	storagetest.RunKeystore(t, func(t *testing.T) storage.KeystoreStore {
		s, _ := openTemp(t)
		return s
	})
}
