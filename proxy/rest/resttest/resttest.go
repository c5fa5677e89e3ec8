// Package resttest is a PostgREST stand-in for tests: PostgREST cannot run on this
// machine, so this server does for /rest/v1/rpc/<fn> what PostgREST (behind
// Supabase's gateway) does, on the real database: it requires an apikey, verifies the
// JWT with the HS256 secret, switches to the token's role, sets request.jwt.claims,
// request.method, request.path and request.headers for the transaction, calls the
// function with the body's named arguments and answers with its JSON, or with
// PostgREST's error JSON and status. It records every request it receives.
//
// It is an ordinary package, not a _test file, so the proxy's tests, the supabase-js
// test and the benchmark can all start one.
package resttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vibepass/vibepass/sql/sqlapi"
)

// demoKeyExpiry is the exp of the keys `supabase status` prints for the local stack (2032).
const demoKeyExpiry = 1983812996

// clockSkew is the leeway PostgREST allows on exp, iat and nbf.
const clockSkew = 30 * time.Second

// RoleKey returns an API key for role (anon or service_role) signed with secret: an
// HS256 JWT shaped like the keys `supabase status` shows for the local stack.
func RoleKey(secret []byte, role string) (string, error) {
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss":  "supabase-demo",
		"role": role,
		"exp":  demoKeyExpiry,
	}).SignedString(secret)
}

// Request is one request the stand-in received, as the client sent it.
type Request struct {
	Method string
	Path   string
	Header http.Header
}

// Server is a running PostgREST stand-in.
type Server struct {
	// URL is the project URL to give a client (rpc lives under URL/rest/v1/rpc/).
	URL string
	// AnonKey and ServiceRoleKey are the API keys the gateway accepts, signed with the secret.
	AnonKey, ServiceRoleKey string

	secret []byte
	pool   *pgxpool.Pool
	http   *httptest.Server

	mu       sync.Mutex
	requests []Request

	schemaMu sync.Mutex
	schema   map[string][]function // the schema cache: public functions by name, loaded once
}

// Start serves the stand-in on a free local port, logging in to the database at dbURL
// (as authenticator, like PostgREST) and verifying tokens with jwtSecret.
func Start(dbURL string, jwtSecret []byte) (*Server, error) {
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		return nil, fmt.Errorf("resttest: %w", err)
	}
	s := &Server{secret: jwtSecret, pool: pool}
	if s.AnonKey, err = RoleKey(jwtSecret, "anon"); err != nil {
		pool.Close()
		return nil, err
	}
	if s.ServiceRoleKey, err = RoleKey(jwtSecret, "service_role"); err != nil {
		pool.Close()
		return nil, err
	}
	s.http = httptest.NewServer(s)
	s.URL = s.http.URL
	return s, nil
}

// Close stops the server and closes its database pool.
func (s *Server) Close() {
	s.http.Close()
	s.pool.Close()
}

// Requests returns copies of the requests received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = Request{Method: r.Method, Path: r.Path, Header: r.Header.Clone()}
	}
	return out
}

// ServeHTTP answers like Supabase's gateway in front of PostgREST, for rpc only.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()})
	s.mu.Unlock()

	if cors(w, r) {
		return
	}
	fn, ok := strings.CutPrefix(r.URL.Path, "/rest/v1/")
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "no Route matched with those values"})
		return
	}
	switch key := r.Header.Get("apikey"); {
	case key == "":
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "No API key found in request"})
		return
	case key != s.AnonKey && key != s.ServiceRoleKey:
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Invalid authentication credentials"})
		return
	}
	if fn, ok = strings.CutPrefix(fn, "rpc/"); !ok || fn == "" || strings.Contains(fn, "/") {
		writeJSON(w, http.StatusNotFound, &apiError{Code: "PGRST125", Message: "Invalid path specified in request URL"})
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, &apiError{Code: "PGRST101", Message: "Only GET and POST verbs are allowed"})
		return
	}
	claims, apiErr := s.verify(r)
	if apiErr != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+apiErr.Message+`"`)
		writeJSON(w, http.StatusUnauthorized, apiErr)
		return
	}
	args, apiErr := readArgs(r)
	if apiErr != nil {
		writeJSON(w, http.StatusBadRequest, apiErr)
		return
	}
	status, body, contentRange, apiErr := s.call(r, fn, claims, args)
	if apiErr != nil {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", "Bearer")
		}
		writeJSON(w, status, apiErr)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if contentRange != "" {
		w.Header().Set("Content-Range", contentRange)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// cors adds PostgREST's CORS headers (any origin, echoed, with credentials) and answers
// a preflight; it reports whether the request was a preflight.
func cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		h.Set("Access-Control-Expose-Headers", "Content-Encoding, Content-Location, Content-Range, Content-Type, Date, Location, Server, Transfer-Encoding, Range-Unit")
		return false
	}
	allowed := "Authorization"
	if asked := r.Header.Get("Access-Control-Request-Headers"); asked != "" {
		allowed += ", " + asked
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD")
	h.Set("Access-Control-Allow-Headers", allowed+", Accept, Accept-Language, Content-Language")
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusOK)
	return true
}

// verify returns the claims of the request's JWT: the Authorization bearer token, or
// the apikey when there is none (the gateway passes the key on as the token).
func (s *Server) verify(r *http.Request) (jwt.MapClaims, *apiError) {
	token := r.Header.Get("apikey")
	if auth := r.Header.Get("Authorization"); auth != "" {
		bearer, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			return nil, &apiError{Code: "PGRST301", Message: "Missing authorization scheme"}
		}
		token = bearer
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return s.secret, nil },
		jwt.WithValidMethods([]string{"HS256", "HS384", "HS512"}), jwt.WithLeeway(clockSkew))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, &apiError{Code: "PGRST301", Message: "JWT expired"}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, &apiError{Code: "PGRST301", Message: "JWSError JWSInvalidSignature"}
	case err != nil:
		return nil, &apiError{Code: "PGRST301", Message: "JWSError (CompactDecodeError Invalid number of parts: Expected 3 parts; got 1)"}
	}
	return claims, nil
}

// readArgs reads the named arguments: the POST body's JSON object, or GET's query string.
func readArgs(r *http.Request) (map[string]json.RawMessage, *apiError) {
	args := map[string]json.RawMessage{}
	if r.Method == http.MethodGet {
		for k, v := range r.URL.Query() {
			quoted, _ := json.Marshal(v[len(v)-1])
			args[k] = quoted
		}
		return args, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, &apiError{Code: "PGRST102", Message: "Empty or invalid json"}
	}
	if strings.TrimSpace(string(body)) == "" {
		return args, nil
	}
	if err := json.Unmarshal(body, &args); err != nil {
		return nil, &apiError{Code: "PGRST102", Message: "Empty or invalid json"}
	}
	return args, nil
}

// function is one public function as the schema cache knows it.
type function struct {
	name       string
	argNames   []string // input arguments, in order
	argTypes   []string
	defaults   int  // how many trailing input arguments have defaults
	returnsSet bool // setof / returns table: answered as a JSON array of rows
	composite  bool // returns one row: answered as a JSON object
}

// call runs fn in one transaction as the token's role and returns PostgREST's status,
// body and Content-Range, or its error.
func (s *Server) call(r *http.Request, name string, claims jwt.MapClaims, args map[string]json.RawMessage) (int, string, string, *apiError) {
	ctx := r.Context()
	role, _ := claims["role"].(string)
	if role == "" {
		role = "anon"
	}
	fns, err := s.functions(ctx)
	if err != nil {
		return dbError(err, role)
	}
	fn, ok := pick(fns[name], args)
	if !ok {
		keys := make([]string, 0, len(args))
		for k := range args {
			keys = append(keys, k)
		}
		return http.StatusNotFound, "", "", &apiError{
			Code:    "PGRST202",
			Message: fmt.Sprintf("Could not find the function public.%s(%s) in the schema cache", name, strings.Join(keys, ", ")),
			Hint:    ptr("If a new function was created in the database with this name and parameters, try reloading the schema cache."),
		}
	}
	query, params := fn.query(args)
	claimsJSON, _ := json.Marshal(claims)
	headers := map[string]string{}
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = v[len(v)-1]
	}
	headersJSON, _ := json.Marshal(headers)

	access := pgx.ReadWrite
	if r.Method == http.MethodGet {
		access = pgx.ReadOnly // PostgREST runs GET in a read-only transaction
	}
	var body string
	var rows int64
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: access}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlapi.SetRoleSQL, role, string(claimsJSON)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `select set_config('request.method', $1, true), set_config('request.path', $2, true), set_config('request.headers', $3, true)`,
			r.Method, r.URL.Path, string(headersJSON)); err != nil {
			return err
		}
		return tx.QueryRow(ctx, query, params...).Scan(&body, &rows)
	})
	if err != nil {
		return dbError(err, role)
	}
	contentRange := ""
	if fn.returnsSet {
		contentRange = "*/*"
		if rows > 0 {
			contentRange = "0-" + strconv.FormatInt(rows-1, 10) + "/*"
		}
	}
	return http.StatusOK, body, contentRange, nil
}

// query builds the call with named arguments: json(b) arguments get the raw JSON,
// others the JSON string's text (or the literal for numbers and booleans), cast to
// the argument's type. It selects the JSON body and the row count.
func (f function) query(args map[string]json.RawMessage) (string, []any) {
	var named []string
	var params []any
	for i, name := range f.argNames {
		raw, ok := args[name]
		if !ok {
			continue
		}
		value := string(raw)
		var text string
		if f.argTypes[i] != "json" && f.argTypes[i] != "jsonb" && json.Unmarshal(raw, &text) == nil {
			value = text
		}
		params = append(params, value)
		named = append(named, fmt.Sprintf("%s := $%d::%s", pgx.Identifier{name}.Sanitize(), len(params), f.argTypes[i]))
	}
	call := pgx.Identifier{"public", f.name}.Sanitize() + "(" + strings.Join(named, ", ") + ")"
	switch {
	case f.returnsSet:
		return "select coalesce(json_agg(_pgrst_t), '[]')::text, count(*) from " + call + " _pgrst_t", params
	case f.composite:
		return "select coalesce(to_json(_pgrst_t)::text, 'null'), 1::bigint from " + call + " _pgrst_t", params
	}
	return "select coalesce(to_json(" + call + ")::text, 'null'), 1::bigint", params
}

// pick returns the overload whose input arguments the given names fit: every name is
// an argument, and every argument without a default is given.
func pick(overloads []function, args map[string]json.RawMessage) (function, bool) {
	for _, f := range overloads {
		known := 0
		missing := false
		for i, name := range f.argNames {
			if _, ok := args[name]; ok {
				known++
			} else if i < len(f.argNames)-f.defaults {
				missing = true
			}
		}
		if !missing && known == len(args) {
			return f, true
		}
	}
	return function{}, false
}

// functions returns the schema cache, loading it on first use as PostgREST does at start.
func (s *Server) functions(ctx context.Context) (map[string][]function, error) {
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()
	if s.schema != nil {
		return s.schema, nil
	}
	rows, err := s.pool.Query(ctx, `
		select p.proname, coalesce(p.proargnames, '{}'), coalesce(p.proargmodes::text[], '{}'),
		       array(select format_type(t, null) from unnest(p.proargtypes) t),
		       p.pronargdefaults, p.proretset, rt.typtype = 'c' or p.prorettype = 'record'::regtype
		from pg_proc p
		join pg_namespace n on n.oid = p.pronamespace
		join pg_type rt on rt.oid = p.prorettype
		where n.nspname = 'public' and p.prokind = 'f'`)
	if err != nil {
		return nil, err
	}
	schema := map[string][]function{}
	for rows.Next() {
		var f function
		var allNames, modes []string
		var defaults int16
		if err := rows.Scan(&f.name, &allNames, &modes, &f.argTypes, &defaults, &f.returnsSet, &f.composite); err != nil {
			rows.Close()
			return nil, err
		}
		for i, name := range allNames {
			if len(modes) == 0 || modes[i] == "i" || modes[i] == "b" || modes[i] == "v" {
				f.argNames = append(f.argNames, name)
			}
		}
		if len(f.argNames) != len(f.argTypes) {
			continue // unnamed arguments cannot be passed by name
		}
		f.defaults = int(defaults)
		schema[f.name] = append(schema[f.name], f)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s.schema = schema
	return schema, nil
}

// apiError is PostgREST's error body.
type apiError struct {
	Code    string  `json:"code"`
	Details *string `json:"details"`
	Hint    *string `json:"hint"`
	Message string  `json:"message"`
}

// dbError answers a database error the way PostgREST does.
func dbError(err error, role string) (int, string, string, *apiError) {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return http.StatusServiceUnavailable, "", "", &apiError{Code: "PGRST000", Message: "Database connection error. Retrying the connection."}
	}
	e := &apiError{Code: pgErr.Code, Message: pgErr.Message}
	if pgErr.Detail != "" {
		e.Details = &pgErr.Detail
	}
	if pgErr.Hint != "" {
		e.Hint = &pgErr.Hint
	}
	return sqlstateStatus(pgErr.Code, role), "", "", e
}

// sqlstateStatus is PostgREST's table from SQLSTATE to HTTP status.
func sqlstateStatus(code, role string) int {
	switch code {
	case "42501":
		if role == "anon" {
			return http.StatusUnauthorized
		}
		return http.StatusForbidden
	case "23503", "23505":
		return http.StatusConflict
	case "25006":
		return http.StatusMethodNotAllowed
	case "P0001":
		return http.StatusBadRequest
	case "42883", "42P01":
		return http.StatusNotFound
	}
	switch code[:2] {
	case "08", "53":
		return http.StatusServiceUnavailable
	case "0L", "0P", "28":
		return http.StatusForbidden
	case "54":
		return http.StatusRequestEntityTooLarge
	case "09", "25", "2D", "38", "39", "3B", "40", "55", "57", "58", "F0", "HV", "P0", "XX":
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

func ptr(s string) *string { return &s }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
