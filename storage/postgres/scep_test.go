package postgres

import (
	"testing"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/storagetest"
)

func TestSCEPConformance(t *testing.T) {
	storagetest.RunSCEP(t, func(t *testing.T) storage.SCEPStore {
		s, _ := openTemp(t)
		return s
	})
}
