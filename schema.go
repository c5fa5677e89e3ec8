package vibepass

import (
	"embed"
	"io/fs"
	"path"
	"regexp"
)

// schemaFiles holds what the local database and the tests apply: the base that sets up a
// vanilla PostgreSQL as Supabase sets up a project's database, the safeupdate guard's source,
// and the very migrations and seed the Supabase CLI pushes.
//
//go:embed sql/supabase_base.sql sql/supabase_legacy_grants.sql sql/safeupdate/safeupdate.c supabase/migrations/*.sql supabase/seed.sql
var schemaFiles embed.FS

// Schema is the embedded SQL, read-only, under the same paths as in the repository.
var Schema fs.FS = schemaFiles

// Paths within Schema.
const (
	// BaseFile sets up a vanilla PostgreSQL as Supabase sets up a project (roles, their settings, auth schema, grants); never for a real Supabase database.
	BaseFile = "sql/supabase_base.sql"
	// LegacyGrantsFile adds the default privileges Supabase projects had before 30 October 2026 (new objects in public granted to the API roles).
	LegacyGrantsFile = "sql/supabase_legacy_grants.sql"
	// GuardFile is the C source of the safeupdate guard the local database loads for authenticator.
	GuardFile = "sql/safeupdate/safeupdate.c"
	// MigrationsDir holds the Supabase CLI migrations, <timestamp>_<name>.sql.
	MigrationsDir = "supabase/migrations"
	// SeedFile is the demo data (supabase/seed.sql).
	SeedFile = "supabase/seed.sql"
)

// migrationName is the file name pattern the Supabase CLI applies; it skips other files.
var migrationName = regexp.MustCompile(`^([0-9]+)_(.*)\.sql$`)

// MigrationFiles returns the paths within Schema of the migrations in the order the Supabase
// CLI applies them: by file name, so by the leading timestamp.
func MigrationFiles() []string {
	entries, err := fs.ReadDir(schemaFiles, MigrationsDir)
	if err != nil {
		panic(err) // the directory is embedded, so it is always there
	}
	var paths []string
	for _, e := range entries { // ReadDir sorts by name
		if !e.IsDir() && migrationName.MatchString(e.Name()) {
			paths = append(paths, path.Join(MigrationsDir, e.Name()))
		}
	}
	return paths
}
