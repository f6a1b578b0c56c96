package postgres

import (
	"testing"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/storagetest"
)

func TestESTConformance(t *testing.T) {
	storagetest.RunEST(t, func(t *testing.T) storage.ESTStore {
		s, _ := openTemp(t)
		return s
	})
}
