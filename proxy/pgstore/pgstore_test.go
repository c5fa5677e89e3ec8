package pgstore_test

import (
	"testing"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/pgstore"
	"github.com/vibepass/vibepass/proxy/pgstore/storetest"
	"github.com/vibepass/vibepass/sql/localdb"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

func TestMain(m *testing.M) { localdbtest.Main(m) }

func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, db *localdb.Database) vibepass.Store {
		return pgstore.New(storetest.OpenPool(t, db.AuthenticatorURL))
	})
}
