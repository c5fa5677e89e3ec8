package vibepass_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// module is this module's path, the prefix of its packages' import paths.
const module = "github.com/vibepass/vibepass"

// deps returns the packages pkg (a pattern relative to the module root) builds on,
// itself included, that are not in the standard library, as go list -deps names them.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH (install Go, as .ci/run does): %v", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// TestLayers holds the packages to the layout docs/decisions.md describes: the domain,
// its JSON and the presence feed depend on nothing but each other (in that order) and
// the standard library; the HTTP server knows neither the database driver nor the SQL
// API (the upstream reaches it as domain interfaces and types); the metrics know no
// HTTP framework.
func TestLayers(t *testing.T) {
	only := func(allowed ...string) func(string) bool {
		return func(dep string) bool { return !slices.Contains(allowed, dep) }
	}
	for _, tc := range []struct {
		pkg       string
		forbidden func(dep string) bool
	}{
		{".", only(module)},
		{"./apijson", only(module, module+"/apijson")},
		{"./presence", only(module, module+"/apijson", module+"/presence")},
		{"./proxy", func(dep string) bool {
			return strings.HasPrefix(dep, "github.com/jackc/pgx") || dep == module+"/sql/sqlapi" || dep == module+"/proxy/pgstore"
		}},
		{"./proxy/metrics", func(dep string) bool {
			return strings.HasPrefix(dep, "github.com/gofiber/") || strings.HasPrefix(dep, "github.com/valyala/")
		}},
	} {
		all := deps(t, tc.pkg)
		if len(all) == 0 {
			t.Fatalf("go list -deps %s names no package", tc.pkg)
		}
		for _, dep := range all {
			if tc.forbidden(dep) {
				t.Errorf("%s depends on %s", tc.pkg, dep)
			}
		}
	}
}
