// Package openapitest checks HTTP requests and responses against the API's OpenAPI
// document (proxy.OpenAPI), so that every exchange a test sees keeps the document honest.
package openapitest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/vibepass/vibepass/proxy"
)

// loaded is the parsed, validated document and its router, built once.
var loaded = sync.OnceValues(func() (*spec, error) {
	doc, err := Load()
	if err != nil {
		return nil, err
	}
	doc.Servers = nil // match any host and port: test servers listen on random ones
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi.json: router: %w", err)
	}
	return &spec{doc: doc, router: router}, nil
})

type spec struct {
	doc    *openapi3.T
	router routers.Router
}

// Load parses proxy.OpenAPI and validates it as an OpenAPI 3 document.
func Load() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(proxy.OpenAPI())
	if err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	return doc, nil
}

// Check reports how the response to req (status, header, body as received) departs
// from the document, or nil. A documented operation must list the status and match
// its schema. Anything else (an unknown path or method, a CORS preflight) must be
// either bodiless or the document's Error shape with a 4xx or 5xx status.
func Check(req *http.Request, status int, header http.Header, body []byte) error {
	s, err := loaded()
	if err != nil {
		return err
	}
	if header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("gzip body: %w", err)
		}
		if body, err = io.ReadAll(zr); err != nil {
			return fmt.Errorf("gzip body: %w", err)
		}
	}
	route, params, err := s.router.FindRoute(req)
	if err != nil || req.Method == http.MethodHead {
		return checkUndocumented(s, req, status, body)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return fmt.Errorf("%s %s: %d response departs from openapi.json: %w", req.Method, req.URL.Path, status, err)
	}
	return nil
}

// CheckRequest reports how req departs from the document, or nil: it must be an
// operation the document describes, with the parameters it declares and the
// credential its security scheme names (present; whether it is valid is the server's
// call). Its body is not read: no operation takes one.
func CheckRequest(req *http.Request) error {
	s, err := loaded()
	if err != nil {
		return err
	}
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s: openapi.json has no such operation: %w", req.Method, req.URL.Path, err)
	}
	bodiless := req.Clone(context.Background())
	bodiless.Body = http.NoBody
	in := &openapi3filter.RequestValidationInput{
		Request: bodiless, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: credentialPresent, MultiError: true},
	}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s: request departs from openapi.json: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// credentialPresent passes a request that carries the credential the security scheme
// names: its API key header, or an Authorization header of its HTTP scheme.
func credentialPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme, header := in.SecurityScheme, in.RequestValidationInput.Request.Header
	authorization := strings.Fields(header.Get("Authorization"))
	switch {
	case scheme.Type == "apiKey" && scheme.In == "header" && header.Get(scheme.Name) != "":
		return nil
	case scheme.Type == "http" && len(authorization) == 2 && strings.EqualFold(authorization[0], scheme.Scheme):
		return nil
	}
	return fmt.Errorf("no %s credential", in.SecuritySchemeName)
}

// checkUndocumented checks a response to a request no operation describes.
func checkUndocumented(s *spec, req *http.Request, status int, body []byte) error {
	if len(body) == 0 {
		return nil // HEAD, a CORS preflight's 204
	}
	if status < 400 {
		return fmt.Errorf("%s %s: %d with a body, but openapi.json has no such operation", req.Method, req.URL.Path, status)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("%s %s: %d body is not JSON: %w", req.Method, req.URL.Path, status, err)
	}
	if err := s.doc.Components.Schemas["Error"].Value.VisitJSON(v); err != nil {
		return fmt.Errorf("%s %s: %d body is not the Error shape: %w", req.Method, req.URL.Path, status, err)
	}
	return nil
}
