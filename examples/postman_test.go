package examples

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	postmanCollection  = "postman/vibepass.postman_collection.json"
	postmanEnvironment = "postman/vibepass.postman_environment.json"
)

// newmanReport is the part of newman's JSON report the tests read.
type newmanReport struct {
	Run struct {
		Stats map[string]struct {
			Total  int `json:"total"`
			Failed int `json:"failed"`
		} `json:"stats"`
		Executions []struct {
			Item struct {
				Name string `json:"name"`
			} `json:"item"`
			Response struct {
				Code int `json:"code"`
			} `json:"response"`
			Assertions []struct {
				Assertion string `json:"assertion"`
				Error     *struct {
					Message string `json:"message"`
				} `json:"error"`
			} `json:"assertions"`
		} `json:"executions"`
	} `json:"run"`
}

// runNewman runs the pinned newman on the collection with the environment file and
// vars (name=value) over it, and returns its output, its JSON report and its exit error.
func runNewman(t *testing.T, vars ...string) (string, newmanReport, error) {
	t.Helper()
	reportPath := filepath.Join(t.TempDir(), "report.json")
	args := []string{"run", postmanCollection, "-e", postmanEnvironment,
		"--reporters", "cli,json", "--reporter-json-export", reportPath, "--color", "off"}
	for _, v := range vars {
		args = append(args, "--env-var", v)
	}
	out, err := exec.Command(filepath.Join("node_modules", ".bin", "newman"), args...).CombinedOutput()
	var report newmanReport
	b, readErr := os.ReadFile(reportPath)
	if readErr != nil {
		t.Fatalf("newman wrote no report (%v; exit %v):\n%s", readErr, err, out)
	}
	if err := json.Unmarshal(b, &report); err != nil {
		t.Fatalf("newman's report: %v", err)
	}
	return string(out), report, err
}

// TestPostmanCollectionWithNewman runs examples/postman with Postman's own runner against
// `vibepass dev`, as docs/clients.md tells a Postman user: every request's test script
// passes, and the database shows the pass the run made and ended. With a wrong model
// key the same run fails, so its assertions can fail.
func TestPostmanCollectionWithNewman(t *testing.T) {
	requireNodeModules(t, "newman")
	var collection struct {
		Info struct{ Schema string } `json:"info"`
		Item []struct {
			Item []json.RawMessage `json:"item"`
		} `json:"item"`
	}
	b, err := os.ReadFile(postmanCollection)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &collection); err != nil {
		t.Fatal(err)
	}
	if collection.Info.Schema != "https://schema.getpostman.com/json/collection/v2.1.0/collection.json" {
		t.Errorf("collection schema %q, want Postman's v2.1", collection.Info.Schema)
	}
	requests := 0
	for _, folder := range collection.Item {
		requests += len(folder.Item)
	}

	dev := startDev(t)
	resetPasses(t, dev.dbURL)
	token := mintToken(t, musicFanID)
	vars := []string{"baseUrl=" + dev.url, "accessToken=" + token}
	out, report, err := runNewman(t, append(vars, "modelApiKey="+dev.modelKey)...)
	if err != nil {
		t.Fatalf("newman failed (%v):\n%s", err, out)
	}
	stats := report.Run.Stats
	if stats["requests"].Total != requests || stats["requests"].Failed != 0 {
		t.Errorf("newman ran %d requests (%d failed), want all %d of the collection", stats["requests"].Total, stats["requests"].Failed, requests)
	}
	if stats["assertions"].Failed != 0 || stats["prerequestScripts"].Failed != 0 || stats["testScripts"].Failed != 0 {
		t.Errorf("newman counted failures: %+v\n%s", stats, out)
	}
	for _, e := range report.Run.Executions {
		// The collection's shape check, and the request's own status and body check.
		if len(e.Assertions) < 2 {
			t.Errorf("%q ran %d assertions, want its own besides the collection's", e.Item.Name, len(e.Assertions))
		}
	}
	passes := userPasses(t, dev.dbURL, musicFanID)
	if len(passes) != 1 || passes[0].live || passes[0].endReason != "checkout" {
		t.Errorf("after the run MusicFan's passes = %+v, want one, ended by the collection's checkout", passes)
	}

	// A wrong key fails the model list's own test (the error cases still pass).
	out, report, err = runNewman(t, append(vars, "modelApiKey=not-the-model-key-0123456789")...)
	if err == nil {
		t.Fatalf("newman passed with a wrong model key:\n%s", out)
	}
	var failed []string
	for _, e := range report.Run.Executions {
		for _, a := range e.Assertions {
			if a.Error != nil {
				failed = append(failed, e.Item.Name+": "+a.Assertion)
			}
		}
	}
	if len(failed) != 1 || !strings.HasPrefix(failed[0], "Model: active users: 200") {
		t.Errorf("with a wrong model key the failed assertions are %q, want only the model list's", failed)
	}
}
