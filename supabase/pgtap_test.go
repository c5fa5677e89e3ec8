package supabase_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// TestPgTAP runs supabase/tests/*.sql with pg_prove, as `supabase test db` would, on a fresh
// database with the migrations and the seed.
func TestPgTAP(t *testing.T) {
	pgProve, err := exec.LookPath("pg_prove")
	if err != nil {
		t.Fatal("pg_prove not found: apt-get install libtap-parser-sourcehandler-pgtap-perl postgresql-15-pgtap (or run .ci/run, which installs every tool the tests need)")
	}
	files, err := filepath.Glob(filepath.Join("tests", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no pgTAP files in supabase/tests (%v)", err)
	}
	db := localdbtest.ForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{"--host", "127.0.0.1", "--port", strconv.Itoa(db.Port), "--username", "postgres",
		"--dbname", db.Name, "--verbose", "--failures"}, files...)
	out, err := exec.CommandContext(ctx, pgProve, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_prove failed: %v\n%s", err, out)
	}
	t.Logf("pg_prove:\n%s", out)
}
