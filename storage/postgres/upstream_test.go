package postgres

import (
	"testing"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/storagetest"
)

func TestUpstreamConformance(t *testing.T) {
	storagetest.RunUpstream(t, func(t *testing.T) storage.UpstreamStore {
		s, _ := openTemp(t)
		return s
	})
}
