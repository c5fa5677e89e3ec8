// Package resttest is a PostgREST stand-in for tests: PostgREST cannot run on this
// machine, so this server does for /rest/v1/rpc/<fn> what PostgREST (behind
// Supabase's gateway) does, on the real database: it requires an apikey of either
// generation, verifies the JWT with the HS256 secret (or, given the project's JWKS, an
// ES256/RS256 one with the key its kid names), switches to the token's role,
// applies that role's settings (statement_timeout…), sets request.jwt.claims,
// request.method, request.path and request.headers for the transaction, calls the
// function with the body's named arguments and answers with its JSON (a set cut at
// db-max-rows, with Content-Range), or with PostgREST's error JSON and status. It
// records every request it receives.
//
// What it imitates is written down in PostgREST's source and docs (v14: RangeQuery.hs,
// Error.hs, Query/SqlFragment.hs countF; "Pagination and Count", "Transactions:
// impersonated role settings") and Supabase's "API keys" guide and the knowledge-base
// note "Auth error: {401: UNAUTHORIZED_MISSING_API_KEY}".
//
// It is an ordinary package, not a _test file, so the proxy's tests, the supabase-js
// test and the benchmark can all start one.
package resttest

import (
	"context"
	"crypto/rand"
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

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vibepass/vibepass/proxy/rest/apikey"
	"github.com/vibepass/vibepass/sql/sqlapi"
)

// demoKeyExpiry is the exp of the keys `supabase status` prints for the local stack (2032).
const demoKeyExpiry = 1983812996

// clockSkew is the leeway PostgREST allows on exp, iat and nbf.
const clockSkew = 30 * time.Second

// DefaultMaxRows is Supabase's db-max-rows (hosted: Settings → API → Max rows; the
// CLI: [api] max_rows), what the stand-in cuts set results at unless told otherwise.
const DefaultMaxRows = 1000

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

// Options configure the stand-in like PostgREST's and the gateway's settings.
type Options struct {
	// MaxRows is db-max-rows: set results are cut at this many rows. 0 means DefaultMaxRows.
	MaxRows int
	// NoAnonRole runs PostgREST without db-anon-role: a token without a role claim
	// gets 401 PGRST302 instead of the anon role.
	NoAnonRole bool
	// JWKS is the project's JSON Web Key Set (as devtoken.ES256Key.JWKS gives it):
	// Supabase gives PostgREST the public signing keys next to the legacy secret, so
	// user tokens signed ES256/RS256 verify with the key their kid names. nil: HS256 only.
	JWKS []byte
}

// Server is a running PostgREST stand-in.
type Server struct {
	// URL is the project URL to give a client (rpc lives under URL/rest/v1/rpc/).
	URL string
	// AnonKey and ServiceRoleKey are the legacy API keys the gateway accepts: HS256
	// JWTs signed with the secret.
	AnonKey, ServiceRoleKey string
	// PublishableKey (role anon) and SecretKey (role service_role) are the current
	// keys the gateway accepts: opaque strings, not JWTs.
	PublishableKey, SecretKey string

	secret     []byte
	jwks       keyfunc.Keyfunc // nil without Options.JWKS
	maxRows    int
	noAnonRole bool
	pool       *pgxpool.Pool
	http       *httptest.Server

	mu       sync.Mutex
	requests []Request

	schemaMu sync.Mutex
	schema   map[string][]function // the schema cache: public functions by name, loaded once
}

// Start serves the stand-in on a free local port with Supabase's defaults, logging in
// to the database at dbURL (as authenticator, like PostgREST) and verifying tokens
// with jwtSecret.
func Start(dbURL string, jwtSecret []byte) (*Server, error) {
	return StartWith(dbURL, jwtSecret, Options{})
}

// StartWith is Start with PostgREST settings other than Supabase's defaults.
func StartWith(dbURL string, jwtSecret []byte, o Options) (*Server, error) {
	if o.MaxRows == 0 {
		o.MaxRows = DefaultMaxRows
	}
	var jwks keyfunc.Keyfunc
	if o.JWKS != nil {
		var err error
		if jwks, err = keyfunc.NewJWKSetJSON(o.JWKS); err != nil {
			return nil, fmt.Errorf("resttest: the JWKS: %w", err)
		}
	}
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		return nil, fmt.Errorf("resttest: %w", err)
	}
	s := &Server{secret: jwtSecret, jwks: jwks, maxRows: o.MaxRows, noAnonRole: o.NoAnonRole, pool: pool,
		PublishableKey: apikey.PublishablePrefix + rand.Text(), SecretKey: apikey.SecretPrefix + rand.Text()}
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
	key := r.Header.Get("apikey")
	switch {
	case key == "": // a secret key sent only as Authorization: Bearer lands here too
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "No API key found in request"})
		return
	case key != s.AnonKey && key != s.ServiceRoleKey && key != s.PublishableKey && key != s.SecretKey:
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Invalid API key"})
		return
	case key == s.SecretKey && browserLike(r.UserAgent()):
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Forbidden use of secret API key in browser"})
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
	claims, apiErr := s.verify(r, key)
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

// browserLike reports whether a User-Agent is a browser's, for which the gateway
// refuses secret keys (Supabase's "API keys" guide).
func browserLike(userAgent string) bool {
	return strings.HasPrefix(userAgent, "Mozilla/")
}

// verify returns the claims PostgREST works with. The Authorization bearer token is
// verified as a JWT, whatever it is (a secret or publishable key there is no JWT:
// PGRST301). Without one, or with the apikey repeated there (what supabase-js sends),
// the gateway passes on a legacy key itself, and for a current key a token of the
// key's role.
func (s *Server) verify(r *http.Request, key string) (jwt.MapClaims, *apiError) {
	auth := r.Header.Get("Authorization")
	current := key == s.PublishableKey || key == s.SecretKey
	if auth == "" || (current && auth == "Bearer "+key) {
		switch key {
		case s.PublishableKey:
			return jwt.MapClaims{"role": "anon"}, nil
		case s.SecretKey:
			return jwt.MapClaims{"role": "service_role"}, nil
		}
		auth = "Bearer " + key
	}
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || token == "" {
		return nil, &apiError{Code: "PGRST301", Message: "Empty JWT is sent in Authorization header"}
	}
	claims := jwt.MapClaims{}
	methods := []string{"HS256", "HS384", "HS512"}
	if s.jwks != nil {
		methods = append(methods, "ES256", "RS256")
	}
	_, err := jwt.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if _, hmac := t.Method.(*jwt.SigningMethodHMAC); hmac {
			return s.secret, nil
		}
		return s.jwks.Keyfunc(t)
	}, jwt.WithValidMethods(methods), jwt.WithLeeway(clockSkew))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, &apiError{Code: "PGRST303", Message: "JWT expired"}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, &apiError{Code: "PGRST301", Message: "JWT cryptographic operation failed"}
	case strings.Count(token, ".") != 2:
		return nil, &apiError{Code: "PGRST301", Message: fmt.Sprintf("Expected 3 parts in JWT; got %d", strings.Count(token, ".")+1)}
	case err != nil:
		return nil, &apiError{Code: "PGRST301", Message: "JWT couldn't be decoded"}
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
	if role == "" && s.noAnonRole {
		return http.StatusUnauthorized, "", "", &apiError{Code: "PGRST302", Message: "Anonymous access is disabled"}
	}
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
	countExact := preferCountExact(r.Header.Values("Prefer"))
	query, params := fn.query(args, s.maxRows, countExact)
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
	var total *int64
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: access}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlapi.SetRoleSQL, role, string(claimsJSON)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, roleSettingsSQL, role); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `select set_config('request.method', $1, true), set_config('request.path', $2, true), set_config('request.headers', $3, true)`,
			r.Method, r.URL.Path, string(headersJSON)); err != nil {
			return err
		}
		return tx.QueryRow(ctx, query, params...).Scan(&body, &rows, &total)
	})
	if err != nil {
		return dbError(err, role)
	}
	if !fn.returnsSet {
		return http.StatusOK, body, "", nil
	}
	status, contentRange := rangeStatus(rows, total)
	return status, body, contentRange, nil
}

// roleSettingsSQL applies the settings of the impersonated role (ALTER ROLE … SET, for
// every database or this one) to the transaction, as PostgREST does: Supabase's
// statement_timeout for anon and authenticated comes this way.
const roleSettingsSQL = `select pg_catalog.set_config(split_part(c, '=', 1), substr(c, strpos(c, '=') + 1), true)
	from pg_catalog.pg_db_role_setting s, unnest(s.setconfig) c
	where s.setrole = (select oid from pg_catalog.pg_roles where rolname = $1)
	  and s.setdatabase in (0, (select oid from pg_catalog.pg_database where datname = current_database()))
	order by s.setdatabase`

// preferCountExact reports whether the Prefer headers ask for count=exact.
func preferCountExact(prefer []string) bool {
	for _, h := range prefer {
		for _, p := range strings.Split(h, ",") {
			if strings.TrimSpace(p) == "count=exact" {
				return true
			}
		}
	}
	return false
}

// rangeStatus is PostgREST's rangeStatusHeader for a set result starting at row 0:
// Content-Range "first-last/total" ("*" for the range when empty, for the total when
// not counted), and 206 when the rows sent are fewer than the total.
func rangeStatus(rows int64, total *int64) (int, string) {
	rng, tot, status := "*", "*", http.StatusOK
	if rows > 0 && (total == nil || *total != 0) {
		rng = "0-" + strconv.FormatInt(rows-1, 10)
	}
	if total != nil {
		tot = strconv.FormatInt(*total, 10)
		if rows < *total {
			status = http.StatusPartialContent
		}
	}
	return status, rng + "/" + tot
}

// query builds the call with named arguments: JSON null is SQL NULL, json(b)
// arguments get the raw JSON, others the JSON string's text (or the literal for
// numbers and booleans), cast to the argument's type. It selects the JSON body, the
// row count and, for a set when counted, the total before the cut at maxRows.
func (f function) query(args map[string]json.RawMessage, maxRows int, count bool) (string, []any) {
	var named []string
	var params []any
	for i, name := range f.argNames {
		raw, ok := args[name]
		if !ok {
			continue
		}
		var value any = string(raw)
		var text string
		switch {
		case string(raw) == "null":
			value = nil
		case f.argTypes[i] != "json" && f.argTypes[i] != "jsonb" && json.Unmarshal(raw, &text) == nil:
			value = text
		}
		params = append(params, value)
		named = append(named, fmt.Sprintf("%s := $%d::%s", pgx.Identifier{name}.Sanitize(), len(params), f.argTypes[i]))
	}
	call := pgx.Identifier{"public", f.name}.Sanitize() + "(" + strings.Join(named, ", ") + ")"
	switch {
	case f.returnsSet:
		total := "null::bigint"
		if count {
			total = "(select count(*) from _pgrst_source)"
		}
		return "with _pgrst_source as (select * from " + call + ") select coalesce(json_agg(_pgrst_t), '[]')::text, count(*), " +
			total + " from (select * from _pgrst_source limit " + strconv.Itoa(maxRows) + ") _pgrst_t", params
	case f.composite:
		return "select coalesce(to_json(_pgrst_t)::text, 'null'), 1::bigint, null::bigint from " + call + " _pgrst_t", params
	}
	return "select coalesce(to_json(" + call + ")::text, 'null'), 1::bigint, null::bigint", params
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
