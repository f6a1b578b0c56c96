package postgres

import (
	"testing"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/storagetest"
)

func TestRequestConformance(t *testing.T) {
	storagetest.RunRequests(t, func(t *testing.T) storage.Store {
		s, _ := openTemp(t)
		return s
	})
}
