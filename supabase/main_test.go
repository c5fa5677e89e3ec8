// Package supabase_test proves the Supabase CLI project in this directory on a real
// PostgreSQL (sql/localdb): the pgTAP tests, a push and lint by the real Supabase CLI,
// and check-ins racing each other.
package supabase_test

import (
	"testing"

	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

func TestMain(m *testing.M) { localdbtest.Main(m) }
