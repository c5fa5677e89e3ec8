package examples

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/proxy/page/browsertest"
	"github.com/vibepass/vibepass/proxy/rest/resttest"
)

// readmeLimit is the most README.md may weigh: a newcomer reads it in five minutes.
const readmeLimit = 10 * 1024

// manualBlocks are the `sh manual` blocks, by their first line, with the reason no test
// can run them. A manual block missing here fails TestDocs, and so does an entry here
// that no longer matches a block.
var manualBlocks = map[string]string{
	`npx supabase@2.117.0 link --project-ref "$PROJECT_REF"`:                                                          "needs a Supabase account and a hosted project",
	`eval "$(npx supabase@2.117.0 status -o env | sed 's/^/export /')"   # ANON_KEY, SERVICE_ROLE_KEY, JWT_SECRET, …`: "needs `supabase start`, which needs Docker",
	`go run ./cmd/vibepass serve --config config.toml`:                                                                "needs the project's PostgREST and Auth (steps 1-4 of docs/supabase.md)",
	`curl -s -X POST -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:3000/api/checkin`:                      "needs a real user's token from the project's Supabase Auth",
	`docker build --build-arg VERSION="$(git describe --tags --always)" -t vibepass .`:                                "needs a Docker engine; TestImageBuildServesFromTheEnvironment builds and runs the binary as the image would",
}

// harnessCommands are the lines a `sh harness` block may hold: what the harness runs.
var harnessCommands = map[string]bool{
	"go run ./cmd/vibepass dev":    true, // startDev runs it, as the built binary
	".ci/run":                      true, // CI runs it; it ends with the next line
	"go test -race -count=1 ./...": true, // what runs this test
}

// scaleDown shrinks the long runs of `sh scaled` blocks: a full bench, mix, soak or fuzz
// run takes minutes. The mix runs on a few hundred users whose clocks run 120x faster, and
// the soak at a fixed target instead of half of what a search finds.
var scaleDown = strings.NewReplacer(
	`"$VIBEPASS" bench --mix`, `"$VIBEPASS" bench --mix --users 400 --passes-per-user 2 --duration 3s --compress 120 --warmup 1s --start 100 --precision 1 --workers 16`,
	`"$VIBEPASS" bench`, `"$VIBEPASS" bench --users 1000 --passes-per-user 2 --duration 1s --rounds 1`,
	"--soak 3h --at 0.5", "--soak 8s --sample 500ms --present 100",
	"--soak 90m --present 4000 --compress 10", "--soak 8s --sample 500ms --present 100",
	"--soak-out docs/soak", `--soak-out "$(mktemp -d)"`,
	"-fuzztime 60s", "-fuzztime 20x",
)

// block is one fenced code block of a Markdown file.
type block struct {
	file string // relative to the repository
	line int    // of the opening fence
	info string // the info string, e.g. "sh" or "sh manual"
	body string
}

func (b block) name() string { return fmt.Sprintf("%s:%d", b.file, b.line) }

// docFiles are README.md and docs/*.md, relative to the repository.
func docFiles(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"README.md"}
	for _, d := range docs {
		files = append(files, filepath.ToSlash(strings.TrimPrefix(d, repoRoot+string(filepath.Separator))))
	}
	sort.Strings(files[1:])
	return files
}

// parseBlocks returns the fenced (```) code blocks of the Markdown file.
func parseBlocks(t *testing.T, file string) []block {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, file))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []block
	var cur *block
	var body []string
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == nil {
			if info, ok := strings.CutPrefix(trimmed, "```"); ok {
				cur = &block{file: file, line: i + 1, info: strings.Join(strings.Fields(info), " ")}
				body = nil
			}
			continue
		}
		if trimmed == "```" {
			cur.body = strings.Join(body, "\n") + "\n"
			blocks = append(blocks, *cur)
			cur = nil
			continue
		}
		body = append(body, line)
	}
	if cur != nil {
		t.Fatalf("%s: the code block opened here is never closed", cur.name())
	}
	return blocks
}

// TestDocs runs every code block of README.md and docs/*.md by its info string (the
// table in docs/testing.md). A block no runner claims fails.
func TestDocs(t *testing.T) {
	var all []block
	for _, f := range docFiles(t) {
		all = append(all, parseBlocks(t, f)...)
	}
	dev := startDev(t)
	postgrest, err := resttest.Start(dev.authenticatorURL(t), []byte(devtoken.Secret))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(postgrest.Close)

	seenManual := map[string]bool{}
	pages := map[string][]block{} // a file's React modules: its jsx blocks make one page, its ts and tsx blocks another
	for i, b := range all {
		switch b.info {
		case "jsx":
			pages[b.file+" jsx"] = append(pages[b.file+" jsx"], b)
			continue
		case "ts", "tsx":
			pages[b.file+" tsx"] = append(pages[b.file+" tsx"], b)
			continue
		case "sh manual":
			seenManual[firstLine(b.body)] = true
		}
		t.Run(b.name()+" "+b.info, func(t *testing.T) {
			switch b.info {
			case "sh", "sh scaled":
				resetPasses(t, dev.dbURL)
				runShell(t, b, dev, postgrest)
			case "sh harness":
				checkHarness(t, b)
			case "sh manual":
				checkManual(t, b)
			case "python":
				resetPasses(t, dev.dbURL)
				runPython(t, b, dev)
			case "js":
				resetPasses(t, dev.dbURL)
				runSupabaseJS(t, b, dev)
			case "go", "js node":
				resetPasses(t, dev.dbURL)
				var out string
				if b.info == "go" {
					out = runGoSample(t, b, dev)
				} else {
					out = runNodeSample(t, b, dev)
				}
				if next := i + 1; next < len(all) && all[next].file == b.file && all[next].info == "text" && out != all[next].body {
					t.Errorf("the sample printed:\n%s\nthe text block after it shows:\n%s", out, all[next].body)
				}
			case "sql":
				runSQL(t, b, dev)
			case "toml":
				resetPasses(t, dev.dbURL)
				runServeConfig(t, b, dev)
			case "json":
				if !json.Valid([]byte(b.body)) {
					t.Errorf("not valid JSON:\n%s", b.body)
				}
			case "text":
				// output shown for reading
			default:
				t.Errorf("info string %q: no test runs such a block; use one of those in docs/testing.md", b.info)
			}
		})
	}
	for page, blocks := range pages {
		t.Run(page, func(t *testing.T) {
			resetPasses(t, dev.dbURL)
			runReact(t, blocks, dev)
		})
	}
	for line := range manualBlocks {
		if !seenManual[line] {
			t.Errorf("manualBlocks lists %q, which no `sh manual` block starts with any more", line)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// TestDocsLinks checks that README.md is short and that every Markdown link in the
// docs is relative, stays in the repository and reaches a file (and heading) there.
func TestDocsLinks(t *testing.T) {
	if info, err := os.Stat(filepath.Join(repoRoot, "README.md")); err != nil {
		t.Fatal(err)
	} else if info.Size() > readmeLimit {
		t.Errorf("README.md is %d bytes, more than %d: move the depth to docs/", info.Size(), readmeLimit)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, file := range docFiles(t) {
		data, err := os.ReadFile(filepath.Join(repoRoot, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(stripCode(string(data)), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "//") || strings.HasPrefix(target, "/") || strings.HasPrefix(target, "mailto:") {
				t.Errorf("%s: link %q leaves the repository; link only to files in it", file, target)
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			abs := filepath.Join(root, filepath.Dir(file), path)
			if path == "" {
				abs = filepath.Join(root, file)
			}
			if rel, err := filepath.Rel(root, abs); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s: link %q leaves the repository", file, target)
				continue
			}
			if _, err := os.Stat(abs); err != nil {
				t.Errorf("%s: link %q: %v", file, target, err)
				continue
			}
			if anchor != "" && !hasHeading(t, abs, anchor) {
				t.Errorf("%s: link %q: no heading with that anchor", file, target)
			}
		}
	}
}

// stripCode removes fenced blocks and inline code, whose brackets are not links.
func stripCode(md string) string {
	md = regexp.MustCompile("(?s)```.*?```").ReplaceAllString(md, "")
	return regexp.MustCompile("`[^`\n]*`").ReplaceAllString(md, "")
}

// hasHeading reports whether the Markdown file has a heading whose GitHub anchor is anchor.
func hasHeading(t *testing.T, file, anchor string) bool {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	drop := regexp.MustCompile(`[^\p{L}\p{N} _-]`)
	for _, line := range strings.Split(stripCode2(string(data)), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		slug := strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(title), ""), " ", "-")
		if slug == anchor {
			return true
		}
	}
	return false
}

// stripCode2 removes fenced blocks only (headings keep their inline code's text).
func stripCode2(md string) string {
	return regexp.MustCompile("(?s)```.*?```").ReplaceAllString(md, "")
}

// --- sh ---

// shRewrites turn the docs' commands into the ones to run here.
func shRewrites(dev *devServer, postgrest *resttest.Server) *strings.Replacer {
	return strings.NewReplacer(
		"go run ./cmd/vibepass", `"$VIBEPASS"`,
		"http://127.0.0.1:54321", postgrest.URL,
		"localhost:3000", dev.addr,
		"127.0.0.1:3000", dev.addr,
	)
}

// step is a run of commands in an sh block and the output the block shows for them.
type step struct {
	code, want []string
}

// shSteps splits an sh block into steps: commands, then the whole-line `# ` comments
// after them, which are their expected output.
func shSteps(body string) []step {
	var steps []step
	cur := step{}
	for _, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		if line == "#" || strings.HasPrefix(line, "# ") {
			cur.want = append(cur.want, strings.TrimPrefix(strings.TrimPrefix(line, "#"), " "))
			continue
		}
		if len(cur.want) > 0 {
			steps = append(steps, cur)
			cur = step{}
		}
		cur.code = append(cur.code, line)
	}
	return append(steps, cur)
}

func runShell(t *testing.T, b block, dev *devServer, postgrest *resttest.Server) {
	steps := shSteps(b.body)
	rewrite := shRewrites(dev, postgrest)
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for i, s := range steps {
		fmt.Fprintf(&script, "printf '\\n@@docs-step %d@@\\n'\n", i)
		for _, line := range s.code {
			line = rewrite.Replace(line)
			if b.info == "sh scaled" {
				line = scaleDown.Replace(line)
			}
			script.WriteString(line + "\n")
		}
	}
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "VIBEPASS="+vibepassBin, "MODEL_API_KEY="+dev.modelKey,
		"ANON_KEY="+postgrest.AnonKey, "PYTHONDONTWRITEBYTECODE=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the block failed (%v); it ran:\n%s\noutput:\n%s\nstderr:\n%s", err, script.String(), out, stderr.String())
	}
	outputs := strings.Split(string(out), "\n@@docs-step ")
	for i, s := range steps {
		var got []string
		if i+1 < len(outputs) {
			_, text, _ := strings.Cut(outputs[i+1], "@@\n")
			got = strings.Split(strings.Trim(text, "\n"), "\n")
			if len(got) == 1 && got[0] == "" {
				got = nil
			}
		}
		if len(s.want) == 0 {
			continue
		}
		where := strings.TrimSpace(strings.Join(s.code, "\n"))
		if len(got) != len(s.want) {
			t.Errorf("after\n%s\nthe docs show %d lines of output, it printed %d:\n%s", where, len(s.want), len(got), strings.Join(got, "\n"))
			continue
		}
		for j := range got {
			if msg := matchLine(s.want[j], got[j]); msg != "" {
				t.Errorf("after\n%s\nthe docs show\n  %s\nit printed\n  %s\n%s", where, s.want[j], got[j], msg)
			}
		}
	}
	if b.info == "sh scaled" && strings.Contains(b.body, "cmd/vibepass bench --mix") {
		checkMixReport(t, string(out), strings.Contains(b.body, "--soak"))
	} else if b.info == "sh scaled" && strings.Contains(b.body, "cmd/vibepass bench --sql") {
		checkSQLBenchReport(t, string(out))
	} else if b.info == "sh scaled" && strings.Contains(b.body, "cmd/vibepass bench") {
		checkBenchReport(t, string(out))
	}
}

var (
	timestampRE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
	fullTimeRE  = regexp.MustCompile(`^` + timestampRE.String() + `$`)
	uuidRE      = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	shortIDRE   = regexp.MustCompile(`^[0-9a-f-]*…[0-9a-f-]*$`)
)

// matchLine compares one line of documented output with what was printed, and says
// how they differ ("" when they match).
func matchLine(want, got string) string {
	if strings.HasPrefix(want, "{") || strings.HasPrefix(want, "[") {
		w, err := jsonTokens(want)
		if err != nil {
			return fmt.Sprintf("the documented line is not JSON: %v", err)
		}
		g, err := jsonTokens(got)
		if err != nil {
			return fmt.Sprintf("the output is not JSON: %v", err)
		}
		if len(w) != len(g) {
			return "the JSON differs in shape"
		}
		for i := range w {
			if !matchToken(w[i], g[i]) {
				return fmt.Sprintf("the JSON differs at %v (documented %v)", g[i], w[i])
			}
		}
		return ""
	}
	mask := func(s string) string { return strings.TrimRight(timestampRE.ReplaceAllString(s, "<time>"), " ") }
	if mask(want) != mask(got) {
		return "the lines differ (timestamps aside)"
	}
	return ""
}

// jsonTokens returns the JSON text's tokens in order: delimiters, keys and values.
func jsonTokens(s string) ([]json.Token, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var tokens []json.Token
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return tokens, nil
		}
		if err != nil {
			return nil, err
		}
		tokens = append(tokens, tok)
	}
}

// matchToken compares a documented JSON token with a printed one: equal, except that
// a documented timestamp or shortened id stands for any of its form.
func matchToken(want, got json.Token) bool {
	ws, wok := want.(string)
	gs, gok := got.(string)
	if wok && gok {
		switch {
		case fullTimeRE.MatchString(ws):
			return fullTimeRE.MatchString(gs)
		case shortIDRE.MatchString(ws):
			return uuidRE.MatchString(gs)
		}
		return ws == gs
	}
	return fmt.Sprint(want) == fmt.Sprint(got) && fmt.Sprintf("%T", want) == fmt.Sprintf("%T", got)
}

// checkBenchReport checks that a scaled-down `vibepass bench` measured every figure
// without errors (never a speed: that depends on the machine).
func checkBenchReport(t *testing.T, out string) {
	t.Helper()
	for _, row := range []string{"check-in, HS256, 8 clients (req/s)", "check-in, ES256, 8 clients (req/s)",
		"session status, HS256, 8 clients (req/s)", "session status, ES256, 8 clients (req/s)",
		"check-in renewal vs its bare statement, 8 clients (req/s)", "session status vs its bare statement, 8 clients (req/s)",
		"active users, 1 client(s) (ms, median)", "active users, 4 client(s) (ms, median)",
		"proxy peak RSS, 4 model client(s) (MB)", "feed event latency, 1 subscriber(s) (ms: p50 / p99)",
		"feed event latency, 1000 subscriber(s) (ms: p50 / p99)", "proxy RSS per 1000 idle subscribers (MB)",
		"proxy CPU per 1000 idle subscribers (% of a core)", "Postgres CPU per change poll (µs)",
		"active users 304, 1 client (ms, median)"} {
		if !strings.Contains(out, "\n"+row) {
			t.Errorf("the bench report has no %q row:\n%s", row, out)
		}
	}
	if !regexp.MustCompile(`\nerrors, all runs\s+0\s`).MatchString(out) {
		t.Errorf("the bench report shows errors:\n%s", out)
	}
}

// checkMixReport checks what a scaled-down `vibepass bench --mix` printed: the model,
// every target's row with no errors and the capacity, or the soak's series and verdict
// (the block exits non-zero when a series keeps growing). Never a speed.
func checkMixReport(t *testing.T, out string, soak bool) {
	t.Helper()
	rows := []string{"traffic model (per present user)", "per present user per hour: ", "present  live passes", "capacity: "}
	if soak {
		rows = []string{"traffic model (per present user)", "soak: 100 present users", "proxy RSS MB", "presence_log rows", "sessions rows", "bounds: ", "soak passed"}
	}
	for _, row := range rows {
		if !strings.Contains(out, row) {
			t.Errorf("the mix report has no %q:\n%s", row, out)
		}
	}
	if soak {
		return
	}
	// The targets' table: columns apart by two spaces or more, the errors seventh.
	_, table, _ := strings.Cut(out, "\npresent  live passes")
	table, _, _ = strings.Cut(table, "\n\n")
	targets := strings.Split(strings.TrimSpace(table), "\n")[1:]
	if len(targets) == 0 {
		t.Errorf("the mix report measured no target:\n%s", out)
	}
	for _, row := range targets {
		if cols := regexp.MustCompile(`\s{2,}`).Split(row, -1); len(cols) < 7 || cols[6] != "0" {
			t.Errorf("a target had errors (or the table changed shape): %q", row)
		}
	}
}

// checkSQLBenchReport checks what `vibepass bench --sql` printed: every function
// measured against its bare statement, and no errors.
func checkSQLBenchReport(t *testing.T, out string) {
	t.Helper()
	for _, row := range []string{"check-in renewal", "session status", "check-out, then a new check-in (2 transactions)"} {
		if !strings.Contains(out, "\n"+row+" ") {
			t.Errorf("the SQL bench report has no %q row:\n%s", row, out)
		}
	}
	if !regexp.MustCompile(`\nerrors, all runs\s+0\s`).MatchString(out) {
		t.Errorf("the SQL bench report shows errors:\n%s", out)
	}
}

// checkHarness checks a `sh harness` block: only the commands the harness runs.
func checkHarness(t *testing.T, b block) {
	for _, line := range strings.Split(strings.TrimSpace(b.body), "\n") {
		command, _, _ := strings.Cut(line, "#")
		command = strings.TrimSpace(command)
		if !harnessCommands[command] {
			t.Errorf("%q is not a command the test harness runs (%v)", command, harnessCommands)
		}
	}
	ci := filepath.Join(repoRoot, ".ci", "run")
	info, err := os.Stat(ci)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode()&0o111 == 0 {
		t.Errorf(".ci/run is not executable")
	}
	data, err := os.ReadFile(ci)
	if err != nil {
		t.Fatal(err)
	}
	var last string
	for _, line := range strings.Split(string(data), "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			last = l
		}
	}
	if last != "go test -race -count=1 ./..." {
		t.Errorf(".ci/run ends with %q, not the test command the docs name", last)
	}
}

// checkManual checks a `sh manual` block as far as this machine can: it is listed with
// its reason, it is valid bash, and its Supabase CLI commands and flags exist in the
// pinned CLI.
func checkManual(t *testing.T, b block) {
	reason, ok := manualBlocks[firstLine(b.body)]
	if !ok {
		t.Fatalf("a `sh manual` block is not run; list it in manualBlocks with the reason no test can run it:\n%s", b.body)
	}
	t.Logf("not run: %s", reason)
	if out, err := exec.Command("bash", "-n", "-c", b.body).CombinedOutput(); err != nil {
		t.Errorf("not valid bash: %v\n%s", err, out)
	}
	requireNodeModules(t, "supabase")
	pinned := pinnedVersion(t, "supabase")
	word := regexp.MustCompile(`^[a-z][a-z-]*$`)
	flag := regexp.MustCompile(`(?:^|\s)(--[a-z][a-z-]*)`)
	for _, line := range strings.Split(b.body, "\n") {
		_, rest, ok := strings.Cut(line, "npx supabase@")
		if !ok {
			continue
		}
		version, rest, _ := strings.Cut(rest, " ")
		if version != pinned {
			t.Errorf("%q runs supabase %s; examples/package.json pins %s", line, version, pinned)
		}
		var sub []string
		for _, f := range strings.Fields(rest) {
			if !word.MatchString(f) {
				break
			}
			sub = append(sub, f)
		}
		help, err := exec.Command(filepath.Join("node_modules", ".bin", "supabase"), append(sub, "--help")...).CombinedOutput()
		if err != nil {
			t.Errorf("supabase %s --help: %v\n%s", strings.Join(sub, " "), err, help)
			continue
		}
		for _, m := range flag.FindAllStringSubmatch(rest, -1) {
			if !regexp.MustCompile(`(?m)^\s+(-\w, )?` + regexp.QuoteMeta(m[1]) + `\b`).Match(help) {
				t.Errorf("supabase %s has no flag %s", strings.Join(sub, " "), m[1])
			}
		}
	}
}

// pinnedVersion returns the exact version examples/package.json pins for the package.
func pinnedVersion(t *testing.T, pkg string) string {
	t.Helper()
	data, err := os.ReadFile("package.json")
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(data, &manifest); err != nil {
		t.Fatal(err)
	}
	return manifest.Dependencies[pkg]
}

// --- python, js, sql, toml ---

// runPython runs a python block with the python of a venv on /usr/bin/python3 that has
// the vibepass package (clients/python) installed, as docs/clients.md installs it.
func runPython(t *testing.T, b block, dev *devServer) {
	requirePython(t)
	python, _ := pythonVenv(t)
	file := filepath.Join(t.TempDir(), "sample.py")
	if err := os.WriteFile(file, []byte(b.body), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, file)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "VIBEPASS_URL="+dev.url, "ML_API_KEY="+dev.modelKey, "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "Error:") {
		t.Fatalf("python3 ran the sample: %v\n%s", err, out)
	}
}

// nodeDir makes a directory whose node_modules are examples/node_modules, so that a
// sample written there imports the pinned packages.
func nodeDir(t *testing.T) string {
	t.Helper()
	modules, err := filepath.Abs("node_modules")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runSupabaseJS runs the supabase-js sample as an ES module under node, as ChillWave,
// with the PostgREST stand-in as the Supabase project and dev as the proxy.
func runSupabaseJS(t *testing.T, b block, dev *devServer) {
	requireNodeModules(t, "@supabase/supabase-js")
	postgrest, err := resttest.Start(dev.authenticatorURL(t), []byte(devtoken.Secret))
	if err != nil {
		t.Fatal(err)
	}
	defer postgrest.Close()
	const user = "00000000-0000-4000-8000-000000000003" // ChillWave
	token := mintToken(t, user)
	dir := nodeDir(t)
	prelude := "const SUPABASE_URL = process.env.SUPABASE_URL\n" +
		"const SUPABASE_ANON_KEY = process.env.SUPABASE_ANON_KEY\n" +
		"const VIBEPASS_URL = process.env.VIBEPASS_URL\n" +
		"const accessToken = process.env.ACCESS_TOKEN\n"
	if err := os.WriteFile(filepath.Join(dir, "sample.mjs"), []byte(prelude+b.body), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "--experimental-websocket", "sample.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SUPABASE_URL="+postgrest.URL, "SUPABASE_ANON_KEY="+postgrest.AnonKey,
		"VIBEPASS_URL="+dev.url, "ACCESS_TOKEN="+token)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node ran the sample: %v\n%s", err, out)
	}
	t.Logf("it printed:\n%s", out)
	requests := postgrest.Requests()
	if len(requests) == 0 {
		t.Errorf("the sample made no call through supabase-js")
	}
	for _, r := range requests {
		if r.Header.Get("Authorization") != "Bearer "+token {
			t.Errorf("%s %s was not sent with the user's token", r.Method, r.Path)
		}
	}
	if passes := userPasses(t, dev.dbURL, user); len(passes) == 0 {
		t.Errorf("the sample left no pass for its user in public.sessions")
	}
}

func runSQL(t *testing.T, b block, dev *devServer) {
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Fatal("psql is not installed: apt-get install postgresql-client-15")
	}
	cmd := exec.Command(psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", dev.dbURL)
	cmd.Stdin = strings.NewReader("begin;\n" + b.body + "\nrollback;\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("psql ran the block: %v\n%s", err, out)
	}
}

// runServeConfig starts `vibepass serve` with the block as its configuration, on dev's
// database, and checks a user in through it. The JWT secret is a fresh one: serve
// refuses dev's, which is public.
func runServeConfig(t *testing.T, b block, dev *devServer) {
	// Port 0 for both listeners: serve binds free ports and its "listening" record names
	// the API's, so no other process can take it first.
	file := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(file, []byte("listen = \"127.0.0.1:0\"\n"+b.body), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(vibepassBin, "serve", "--config", file)
	secret := devtoken.NewSecret()
	cmd.Env = append(os.Environ(), "VIBEPASS_DB_URL="+dev.authenticatorURL(t),
		"SUPABASE_JWT_SECRET="+secret, "MODEL_API_KEY="+dev.modelKey, "VIBEPASS_METRICS_LISTEN=127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	addr := ""
	lines := bufio.NewScanner(stderr)
	for addr == "" && lines.Scan() {
		log.WriteString(lines.Text() + "\n")
		var record struct{ Msg, Addr string }
		if json.Unmarshal(lines.Bytes(), &record) == nil && record.Msg == "listening" {
			addr = record.Addr
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}()
	if addr == "" {
		t.Fatalf("vibepass serve with this configuration did not start:\n%s", log.String())
	}
	token, err := devtoken.Mint([]byte(secret), devtoken.Request{Sub: musicFanID}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/checkin", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("check-in through serve: HTTP %d %s", resp.StatusCode, body)
	}
	if passes := userPasses(t, dev.dbURL, musicFanID); len(passes) != 1 || !passes[0].live {
		t.Errorf("after a check-in through serve, MusicFan's passes = %+v, want one live", passes)
	}
}

// --- jsx, ts and tsx ---

// reactEntry renders the docs' App, as an app's index would.
const reactEntry = `import { createRoot } from 'react-dom/client'
import { App } from './App'

createRoot(document.getElementById('root')).render(<App />)
`

// supabaseStub stands in for the app's supabase-js client: there is no Supabase Auth
// here to sign in with, so the session is the one the test page sets, and no auth event
// ever comes.
const supabaseStub = `export const supabase = {
  auth: {
    getSession: async () => ({ data: { session: window.vibepassTestSession ?? null }, error: null }),
    onAuthStateChange: () => ({ data: { subscription: { unsubscribe () {} } } })
  }
}
`

// supabaseTyped is the app's supabase-js client as the type check sees it: a real one.
const supabaseTyped = `import { createClient } from '@supabase/supabase-js'

export const supabase = createClient('http://127.0.0.1:54321', 'anon-key')
`

// tsconfigSample type-checks a page's ts and tsx modules against the installed package's
// types, React's and supabase-js's.
const tsconfigSample = `{
  "compilerOptions": {
    "target": "es2022", "lib": ["es2022", "dom"], "module": "esnext", "moduleResolution": "bundler",
    "jsx": "react-jsx", "strict": true, "noEmit": true, "skipLibCheck": true, "types": []
  },
  "include": ["*.ts", "*.tsx"]
}
`

// runReact writes a page's blocks to the files their first lines name, bundles them with
// React and the pinned esbuild, renders them in headless Chromium on a page same-origin
// with dev's API, and checks the check-in and the timer, and the Check out button if the
// page has one. A page of ts and tsx blocks uses the vibepass package, installed as
// docs/clients.md installs it, and must pass tsc --strict against its types first.
func runReact(t *testing.T, blocks []block, dev *devServer) {
	requireNodeModules(t, "esbuild", "react", "react-dom", "@supabase/supabase-js")
	typed := blocks[0].info != "jsx"
	dir := nodeDir(t)
	if typed {
		dir = jsApp(t)
	}
	named := regexp.MustCompile(`^// ([A-Za-z0-9_-]+\.(?:jsx?|tsx?)): `)
	files := map[string]string{}
	for _, b := range blocks {
		m := named.FindStringSubmatch(firstLine(b.body))
		if m == nil {
			t.Fatalf("%s: a %s block must start with `// <file name>: what it is`", b.name(), b.info)
		}
		files[m[1]] = b.body
	}
	if files["App.jsx"] == "" && files["App.tsx"] == "" {
		t.Fatalf("no block is App.jsx or App.tsx, the component the test renders")
	}
	if typed {
		checkTypes(t, dir, files)
	}
	files["supabaseClient.js"], files["main.jsx"] = supabaseStub, reactEntry
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bundle(t, dir, "main.jsx")

	const user = "JazzCat"
	server := servePage(t, dev, dir)
	tab := browsertest.Start(t)
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(server.URL+"/?user="+user)); err != nil {
		t.Fatalf("opening the React sample's page: %v", err)
	}
	shown := reactTimer(t, ctx, "min remaining")
	if !strings.Contains(shown, "Vibe Pass: 60 min remaining") {
		t.Errorf("the timer shows %q, want %q", shown, "Vibe Pass: 60 min remaining")
	}
	passes := userPasses(t, dev.dbURL, jazzCatID)
	if len(passes) != 1 || !passes[0].live {
		t.Fatalf("after the React sample's check-in, %s's passes = %+v, want one live", user, passes)
	}
	button, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`[...document.querySelectorAll('button')].some((b) => b.textContent === 'Check out')`))
	if err != nil || !button {
		return
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.Search(`//button[text()="Check out"]`))); err != nil {
		t.Fatalf("clicking Check out: %v", err)
	}
	if shown := reactTimer(t, ctx, "ended"); shown != "Your vibe pass has ended." {
		t.Errorf("after Check out the timer shows %q", shown)
	}
	if ended := userPasses(t, dev.dbURL, jazzCatID); len(ended) != 1 || ended[0].live || ended[0].endReason != "checkout" {
		t.Errorf("after Check out, %s's passes = %+v, want the pass ended by checkout", user, ended)
	}
}

// reactTimer waits until the page's .session-timer holds text containing part and returns it.
func reactTimer(t *testing.T, ctx context.Context, part string) string {
	t.Helper()
	shown, err := chromedp.Run(ctx, chromedp.Poll[string](
		fmt.Sprintf(`(() => { const el = document.querySelector('.session-timer'); return el && el.textContent.includes(%q) && el.textContent })()`, part),
		chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("the React sample's timer did not come to say %q (%v); the page shows %q", part, err, text)
	}
	return shown
}

// checkTypes type-checks the page's modules with the JS package's pinned TypeScript, in a
// copy of the app where ./supabaseClient is a real supabase-js client.
func checkTypes(t *testing.T, app string, files map[string]string) {
	t.Helper()
	dir := filepath.Join(app, "typecheck")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	all := map[string]string{"supabaseClient.ts": supabaseTyped, "tsconfig.json": tsconfigSample}
	for name, text := range files {
		all[name] = text
	}
	for name, text := range all {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// React's types come with the package's own tools (clients/js's devDependencies).
	if err := os.Symlink(mustAbs(filepath.Join(jsClientDir, "node_modules", "@types")), filepath.Join(app, "node_modules", "@types")); err != nil {
		t.Fatal(err)
	}
	tsc := exec.Command(mustAbs(filepath.Join(jsClientDir, "node_modules", ".bin", "tsc")), "-p", "tsconfig.json")
	tsc.Dir = dir
	if out, err := tsc.CombinedOutput(); err != nil {
		t.Fatalf("tsc on the sample: %v\n%s", err, out)
	}
}

// runNodeSample runs a `js node` block as an ES module under node in an app with the
// vibepass package installed, against dev (VIBEPASS_URL, MODEL_API_KEY, and ACCESS_TOKEN
// MusicFan's), and returns what it printed; it must exit 0.
func runNodeSample(t *testing.T, b block, dev *devServer) string {
	t.Helper()
	app := jsApp(t)
	if err := os.WriteFile(filepath.Join(app, "sample.mjs"), []byte(b.body), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "sample.mjs")
	cmd.Dir = app
	cmd.Env = append(os.Environ(), "VIBEPASS_URL="+dev.url, "MODEL_API_KEY="+dev.modelKey, "ML_API_KEY=", "ACCESS_TOKEN="+dev.tokens["MusicFan"])
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: node: %v\n%s%s", b.name(), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}
