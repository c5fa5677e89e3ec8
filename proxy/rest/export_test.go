package rest

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// ResponseError exposes responseError to the external tests.
var ResponseError = responseError

// RawCall POSTs body to rpc/<fn> with apikey and a bearer token, as the store's user
// calls do, and returns PostgREST's status and body.
func RawCall(t *testing.T, url, apikey, token, fn, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/rest/v1/rpc/"+fn, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("apikey", apikey)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}
