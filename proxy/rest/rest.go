// Package rest is the PostgREST upstream: a vibepass.Store that calls the SQL
// functions at <URL>/rest/v1/rpc/<fn>, forwarding the user's JWT as Authorization
// with the anon key as apikey, and using the service-role key for the model read.
//
// Either generation of Supabase's API keys works (Supabase's "API keys" guide): the
// anon key is a publishable key (sb_publishable_…) or a legacy anon JWT, the
// service-role key a secret key (sb_secret_…) or a legacy service_role JWT. A key
// always goes in apikey. Authorization carries the user's JWT on user calls; on the
// model read it carries a legacy service_role key (a JWT) and nothing for a secret
// key, which is not a JWT and which the gateway does not accept as a bearer token alone.
//
// The model list is read in keyset pages of rpc/active_users_page, because
// PostgREST cuts every set-returning answer at db-max-rows (Supabase: 1,000) and
// says so only in Content-Range. Each page asks for count=exact, so Content-Range
// "0-999/1000" against a page size of 1000 is a full page, "0-332/1000" a page cut
// at max_rows, and "0-41/42" the last page; the walk goes on after the last row
// until that last, short and uncut, page, and fails when Content-Range and the body
// disagree.
//
// The three user calls go through postgrest-go v0.0.11, the client the design names,
// with its traps handled: a client is built per request (about a microsecond) because
// its headers live in one map that a shared client would race on; only the fixed
// function names below are called, because Rpc joins the name into the URL unescaped;
// and the request's context, the shared http.Transport, the real HTTP status and a
// guard that refuses any URL but the one meant all come from a round tripper set as
// the client's Transport.Parent, because Rpc takes no context and reports no status.
//
// The model list does not use postgrest-go: Rpc reads the whole body into a string
// and drops the headers, Content-Range included. Each page is a plain net/http
// request whose body is read as a JSON token stream, one row at a time.
//
// supabase-go v0.0.4 is not used: it wraps the same postgrest-go client in a private
// field, so neither Transport.Parent (context, status, shared transport, URL guard)
// nor a per-token client is reachable through it, and it also builds Auth, Storage
// and Functions clients this store has no use for.
package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	postgrest "github.com/supabase-community/postgrest-go"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/rest/apikey"
	"github.com/vibepass/vibepass/sql/sqlapi"
)

// The functions this store calls; no other name ever reaches a URL.
const (
	fnCheckin         = "checkin"
	fnSessionStatus   = "session_status"
	fnCheckout        = "checkout"
	fnActiveUsersPage = "active_users_page"
	fnTick            = "presence_tick"
	fnChanges         = "presence_changes"
	fnSummary         = "presence_summary"
	fnHistory         = "presence_history"
	fnReady           = "vibepass_ready"
)

// pageSize is how many rows a model-list page asks for: Supabase's default
// db-max-rows. A lower cap only cuts pages shorter, which the walk sees and goes on from.
const pageSize = 1000

// maxServiceBody caps what a presence call reads: a page of changes is at most
// PostgREST's max_rows rows of a few hundred bytes.
const maxServiceBody = 16 << 20

// DefaultTimeout bounds how long a call waits for PostgREST's answer when Options.Timeout is 0.
const DefaultTimeout = 10 * time.Second

// maxRPCBody caps what a user call reads: the functions answer with a small object.
const maxRPCBody = 64 << 10

// Options configure a Store.
type Options struct {
	// URL is the project URL, e.g. http://127.0.0.1:54321; the store calls URL/rest/v1/rpc/<fn>.
	URL string
	// AnonKey goes as the apikey header of user calls (the gateway wants one on every
	// request): a publishable key (sb_publishable_…) or a legacy anon key.
	AnonKey string
	// ServiceRoleKey authorizes the model read, never a user call: a secret key
	// (sb_secret_…, sent as apikey only) or a legacy service_role key (apikey and bearer).
	ServiceRoleKey string
	// HTTPClient's Transport carries every request (shared, so connections are reused);
	// nil means a clone of http.DefaultTransport keeping up to 100 idle connections. Its
	// Timeout and redirect policy are not used: Timeout below bounds each call and
	// redirects are never followed.
	HTTPClient *http.Client
	// Timeout bounds each call until PostgREST's response headers arrive (PostgREST
	// builds the whole answer before sending it); 0 means DefaultTimeout. The caller's
	// context still applies on top, also while a model list streams.
	Timeout time.Duration
}

// Store is a vibepass.Store over PostgREST. It is safe for concurrent use.
type Store struct {
	restURL    string // URL + /rest/v1, what postgrest-go resolves rpc/<fn> against
	rpcURL     *url.URL
	anonKey    string
	serviceKey string
	// serviceBearer is the model read's Authorization token: the legacy key, or "" for a secret key.
	serviceBearer string
	transport     http.RoundTripper
	stream        *http.Client
	timeout       time.Duration
}

var _ vibepass.Store = (*Store)(nil)

// New returns a Store calling PostgREST under o.URL; it makes no request.
func New(o Options) (*Store, error) {
	// The URL is not quoted: it could hold credentials, which are refused because
	// transport errors (and so logs) repeat the URL.
	switch err := vibepass.CheckServiceURL(o.URL); {
	case errors.Is(err, vibepass.ErrURLCredentials):
		return nil, errors.New("rest: the URL must not carry credentials (user:password@): PostgREST takes the keys")
	case err != nil:
		return nil, errors.New("rest: the URL is not an http(s) URL")
	}
	base, err := url.Parse(strings.TrimRight(o.URL, "/"))
	if err != nil {
		return nil, errors.New("rest: the URL is not an http(s) URL")
	}
	if o.AnonKey == "" || o.ServiceRoleKey == "" {
		return nil, errors.New("rest: both the anon key and the service role key are required")
	}
	if err := checkKeys(o.AnonKey, o.ServiceRoleKey); err != nil {
		return nil, err
	}
	serviceBearer := o.ServiceRoleKey
	if strings.HasPrefix(o.ServiceRoleKey, apikey.SecretPrefix) {
		serviceBearer = ""
	}
	defaultTransport := http.DefaultTransport.(*http.Transport).Clone()
	// Every call goes to one host: keep as many idle connections to it as calls run at
	// once, not Go's default of 2, which would reconnect under load.
	defaultTransport.MaxIdleConnsPerHost = defaultTransport.MaxIdleConns
	var transport http.RoundTripper = defaultTransport
	if o.HTTPClient != nil && o.HTTPClient.Transport != nil {
		transport = o.HTTPClient.Transport
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	restURL := base.String() + "/rest/v1"
	return &Store{
		restURL:       restURL,
		rpcURL:        base.JoinPath("rest", "v1", "rpc"),
		anonKey:       o.AnonKey,
		serviceKey:    o.ServiceRoleKey,
		serviceBearer: serviceBearer,
		transport:     transport,
		stream: &http.Client{
			Transport:     transport,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		timeout: timeout,
	}, nil
}

// Checkin makes or renews the caller's pass with rpc/checkin.
func (s *Store) Checkin(ctx context.Context, c vibepass.Caller) (vibepass.Checkin, error) {
	raw, err := s.userCall(ctx, fnCheckin, c)
	if err != nil {
		return vibepass.Checkin{}, err
	}
	return sqlapi.DecodeCheckin(raw)
}

// SessionStatus returns the caller's live pass from rpc/session_status, or nil.
func (s *Store) SessionStatus(ctx context.Context, c vibepass.Caller) (*vibepass.Pass, error) {
	raw, err := s.userCall(ctx, fnSessionStatus, c)
	if err != nil {
		return nil, err
	}
	return sqlapi.DecodePass(raw)
}

// Checkout ends the caller's live pass with rpc/checkout.
func (s *Store) Checkout(ctx context.Context, c vibepass.Caller) (vibepass.Checkout, error) {
	raw, err := s.userCall(ctx, fnCheckout, c)
	if err != nil {
		return vibepass.Checkout{}, err
	}
	return sqlapi.DecodeCheckout(raw)
}

// checkKeys refuses keys given in each other's place, which would either fail every
// model read or hand user calls the service role. The errors never repeat a key.
func checkKeys(anonKey, serviceKey string) error {
	if strings.HasPrefix(anonKey, apikey.SecretPrefix) || apikey.LegacyRole(anonKey) == vibepass.RoleServiceRole {
		return errors.New("rest: the anon key is a service-role (secret) key; it belongs in the service-role key, and the anon key is the publishable or legacy anon key")
	}
	if strings.HasPrefix(serviceKey, apikey.PublishablePrefix) || apikey.LegacyRole(serviceKey) == "anon" {
		return errors.New("rest: the service-role key is an anon (publishable) key; the model read needs the secret or legacy service_role key")
	}
	return nil
}

// Ping reports whether PostgREST and the database behind it answer, accept both keys,
// and hold the vibepass functions. With the anon key alone it calls rpc/session_status,
// which anon may not execute: the database itself refuses (42501) and nothing runs. With
// the service-role key it asks rpc/vibepass_ready whether every function the proxy calls
// exists, as the direct upstream asks. A gateway refusing a
// key (401 without a SQLSTATE) is an error; PGRST202, PostgREST's "no such function in
// the schema cache", means the migrations have not been applied (vibepass.ErrNotMigrated).
func (s *Store) Ping(ctx context.Context) error {
	status, body, err := s.rpc(ctx, fnSessionStatus, "", s.anonKey, struct{}{})
	if err != nil {
		return err
	}
	if err := pingAnswer(status, body, "42501"); err != nil {
		return err
	}
	status, body, err = s.rpc(ctx, fnReady, s.serviceBearer, s.serviceKey, struct{}{})
	if err != nil {
		return err
	}
	if err := pingAnswer(status, body, ""); err != nil {
		return err
	}
	return sqlapi.DecodeReady(body)
}

// pingAnswer judges one readiness call: a 2xx, or the refusal whose SQLSTATE is
// expected, means up.
func pingAnswer(status int, body []byte, expected string) error {
	var ae apiError
	_ = json.Unmarshal(body, &ae)
	switch {
	case ae.Code == "PGRST202":
		return sqlapi.Wrap(vibepass.ErrNotMigrated, ae.answered(status))
	case status/100 == 2 || (expected != "" && ae.Code == expected):
		return nil
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return sqlapi.Wrap(vibepass.ErrUnavailable, fmt.Errorf("rest: PostgREST refused the API key (%w)", ae.answered(status)))
	}
	return responseError(status, body)
}

// userCall calls fn with the caller's token and the anon key and returns the 2xx body.
func (s *Store) userCall(ctx context.Context, fn string, c vibepass.Caller) ([]byte, error) {
	status, body, err := s.rpc(ctx, fn, c.Token, s.anonKey, struct{}{})
	if err != nil {
		return nil, err
	}
	if status/100 != 2 {
		return nil, responseError(status, body)
	}
	return body, nil
}

// rpc POSTs args to rpc/<fn> through a postgrest-go client built for this request
// only, with apikey and, unless bearer is "", Authorization. The error is already
// client-facing (transport failures); the status is PostgREST's.
func (s *Store) rpc(ctx context.Context, fn, bearer, apikey string, args any) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	trip := &roundTrip{ctx: ctx, parent: s.transport, want: s.rpcURL.JoinPath(fn).String()}
	client := postgrest.NewClient(s.restURL, "public", nil)
	client.Transport.Parent = trip
	client.SetApiKey(apikey)
	if bearer != "" {
		client.SetAuthToken(bearer)
	}
	body := client.Rpc(fn, "", args)
	if err := client.ClientError; err != nil {
		return 0, nil, transportError(ctx, fmt.Errorf("rest: rpc/%s: %w", fn, err))
	}
	if len(body) > maxRPCBody {
		return 0, nil, fmt.Errorf("rest: rpc/%s answered more than %d bytes", fn, maxRPCBody)
	}
	return trip.status, []byte(body), nil
}

// roundTrip is one request's postgrest-go Transport.Parent: it gives the request the
// call's context, refuses every URL but the one meant (a redirect included, since
// postgrest-go's transport would add the token and key to it), caps the body and
// keeps the status that Rpc drops.
type roundTrip struct {
	ctx    context.Context
	parent http.RoundTripper
	want   string
	status int
}

// errOffPath means a request was about to leave the one rpc URL it was built for.
var errOffPath = errors.New("request outside the called function's URL refused")

// RoundTrip implements http.RoundTripper.
func (t *roundTrip) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || req.URL.String() != t.want {
		return nil, errOffPath
	}
	resp, err := t.parent.RoundTrip(req.WithContext(t.ctx))
	if err != nil {
		return nil, err
	}
	t.status = resp.StatusCode
	resp.Body = limitedBody{Reader: io.LimitReader(resp.Body, maxRPCBody+1), Closer: resp.Body}
	return resp, nil
}

type limitedBody struct {
	io.Reader
	io.Closer
}

// serviceRequest POSTs args as JSON to rpc/<fn> with the service-role key (and
// Prefer, unless ""), and returns the 200 or 206 response, whose body the caller
// reads and closes; ctx bounds the whole exchange, s.timeout the wait for the headers.
func (s *Store) serviceRequest(ctx context.Context, fn string, args any, prefer string) (*http.Response, error) {
	body, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("rest: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.rpcURL.JoinPath(fn).String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("rest: %w", err)
	}
	req.Header.Set("apikey", s.serviceKey)
	if s.serviceBearer != "" {
		req.Header.Set("Authorization", "Bearer "+s.serviceBearer)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if prefer != "" {
		req.Header.Set("Prefer", prefer)
	}
	headersCtx, cancel := context.WithCancel(ctx)
	headersDue := time.AfterFunc(s.timeout, cancel)
	resp, err := s.stream.Do(req.WithContext(headersCtx))
	if !headersDue.Stop() && err == nil {
		resp.Body.Close()
		err = context.DeadlineExceeded
	}
	if err != nil {
		cancel()
		return nil, transportError(ctx, fmt.Errorf("rest: rpc/%s: %w", fn, err))
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		defer cancel()
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxRPCBody))
		return nil, responseError(resp.StatusCode, body)
	}
	resp.Body = cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelBody releases its request's context when the body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

// Close implements io.Closer.
func (b cancelBody) Close() error {
	defer b.cancel()
	return b.ReadCloser.Close()
}

// serviceCall is serviceRequest with the whole body read, up to maxServiceBody.
func (s *Store) serviceCall(ctx context.Context, fn string, args any) ([]byte, error) {
	resp, err := s.serviceRequest(ctx, fn, args, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxServiceBody+1))
	if err != nil {
		return nil, transportError(ctx, fmt.Errorf("rest: reading rpc/%s: %w", fn, err))
	}
	if len(body) > maxServiceBody {
		return nil, fmt.Errorf("rest: rpc/%s answered more than %d bytes", fn, maxServiceBody)
	}
	return body, nil
}

// PresenceTick calls rpc/presence_tick with the service-role key.
func (s *Store) PresenceTick(ctx context.Context) (vibepass.FeedHead, error) {
	raw, err := s.serviceCall(ctx, fnTick, struct{}{})
	if err != nil {
		return vibepass.FeedHead{}, err
	}
	return sqlapi.DecodeFeedHead(raw)
}

// PresenceChanges calls rpc/presence_changes with the service-role key. PostgREST
// cuts the answer at its max_rows, so it may hold fewer than limit rows while more
// remain; the caller pages by the last cursor until a page is empty.
func (s *Store) PresenceChanges(ctx context.Context, after int64, limit int) ([]vibepass.Change, error) {
	raw, err := s.serviceCall(ctx, fnChanges, map[string]any{"after": after, "max_rows": limit})
	if err != nil {
		return nil, err
	}
	return sqlapi.DecodeChanges(raw)
}

// PresenceSummary calls rpc/presence_summary with the service-role key.
func (s *Store) PresenceSummary(ctx context.Context) (vibepass.Summary, error) {
	raw, err := s.serviceCall(ctx, fnSummary, struct{}{})
	if err != nil {
		return vibepass.Summary{}, err
	}
	return sqlapi.DecodeSummary(raw)
}

// PresenceHistory calls rpc/presence_history with the service-role key.
func (s *Store) PresenceHistory(ctx context.Context) ([]vibepass.PresencePoint, error) {
	raw, err := s.serviceCall(ctx, fnHistory, struct{}{})
	if err != nil {
		return nil, err
	}
	return sqlapi.DecodeHistory(raw)
}

// pageRequest is the body of rpc/active_users_page: the first page has no cursor.
type pageRequest struct {
	AfterCheckedInAt *time.Time `json:"after_checked_in_at"`
	AfterUserID      *string    `json:"after_user_id"`
	PageSize         int        `json:"page_size"`
}

// ActiveUsers streams the model list into emit, one keyset page of
// rpc/active_users_page after another, called with the service-role key and decoded
// one row object at a time from PostgREST's JSON array.
func (s *Store) ActiveUsers(ctx context.Context, emit func(vibepass.ActiveUser) error) error {
	var next pageRequest
	var last *vibepass.ActiveUser
	for {
		next.PageSize = pageSize
		rows, more, err := s.page(ctx, next, func(u vibepass.ActiveUser) error {
			if last != nil && !before(*last, u) {
				return errOutOfOrder
			}
			last = &u
			return emit(u)
		})
		if err != nil {
			return err
		}
		if !more || rows == 0 {
			return nil
		}
		next = pageRequest{AfterCheckedInAt: &last.CheckedInAt, AfterUserID: &last.UserID}
	}
}

// errOutOfOrder means a page repeated or skipped back over rows already sent: the
// walk would loop or list a user twice, so it stops.
var errOutOfOrder = errors.New("rest: rpc/active_users_page answered rows out of the list's order")

// before reports whether a comes before b in the list's order: newest check-in first,
// ties by user_id descending (uuids in canonical lower-case text sort as uuids do).
func before(a, b vibepass.ActiveUser) bool {
	if !a.CheckedInAt.Equal(b.CheckedInAt) {
		return a.CheckedInAt.After(b.CheckedInAt)
	}
	return a.UserID > b.UserID
}

// page reads one page into emit and returns how many rows it had and whether more
// may follow: the page was full, PostgREST cut it (fewer rows than its count), or
// its count is unknown.
func (s *Store) page(ctx context.Context, p pageRequest, emit func(vibepass.ActiveUser) error) (rows int64, more bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := s.serviceRequest(ctx, fnActiveUsersPage, p, "count=exact")
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	first, last, total, err := parseContentRange(resp.Header.Get("Content-Range"))
	if err != nil {
		return 0, false, err
	}
	emitErr, err := streamRows(json.NewDecoder(resp.Body), func(u vibepass.ActiveUser) error {
		rows++
		return emit(u)
	})
	if emitErr != nil {
		return rows, false, emitErr
	}
	if err != nil {
		if ctx.Err() != nil {
			return rows, false, transportError(ctx, err)
		}
		return rows, false, fmt.Errorf("rest: reading rpc/%s: %w", fnActiveUsersPage, err)
	}
	if (first < 0 && rows != 0) || (rows == 0 && total > 0) || (first >= 0 && (first != 0 || last-first+1 != rows)) || (total >= 0 && rows > total) {
		return rows, false, fmt.Errorf("rest: rpc/%s sent %d rows under Content-Range %q", fnActiveUsersPage, rows, resp.Header.Get("Content-Range"))
	}
	return rows, total < 0 || rows < total || rows == int64(pageSize), nil
}

// parseContentRange reads PostgREST's Content-Range "first-last/total", "*/total" or
// either with total "*"; a part that is "*" comes back as -1.
func parseContentRange(h string) (first, last, total int64, err error) {
	bad := fmt.Errorf("rest: rpc/%s answered Content-Range %q, not PostgREST's first-last/total", fnActiveUsersPage, h)
	rng, tot, ok := strings.Cut(h, "/")
	if !ok {
		return 0, 0, 0, bad
	}
	num := func(s string) (int64, bool) {
		if s == "*" {
			return -1, true
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil && n >= 0
	}
	if total, ok = num(tot); !ok {
		return 0, 0, 0, bad
	}
	if rng == "*" {
		return -1, -1, total, nil
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, bad
	}
	first, ok1 := num(a)
	last, ok2 := num(b)
	if !ok1 || !ok2 || first < 0 || last < first {
		return 0, 0, 0, bad
	}
	return first, last, total, nil
}

// streamRows decodes a JSON array of active-user rows, handing each to emit; emit's
// error is kept apart from decoding errors so the caller returns it as is.
func streamRows(dec *json.Decoder, emit func(vibepass.ActiveUser) error) (emitErr, err error) {
	if err := expectDelim(dec, '['); err != nil {
		return nil, err
	}
	for dec.More() {
		var u vibepass.ActiveUser
		if err := dec.Decode(&u); err != nil {
			return nil, err
		}
		u.CheckedInAt, u.ExpiresAt = u.CheckedInAt.UTC(), u.ExpiresAt.UTC()
		if err := emit(u); err != nil {
			return err, nil
		}
	}
	return nil, expectDelim(dec, ']')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("expected %q, got %v", want, tok)
	}
	return nil
}

// transportError maps a failed HTTP exchange: the call's deadline or the caller
// leaving -> ETIMEOUT, a URL the guard refused -> internal, anything else (refused,
// reset, closed) -> EUNAVAILABLE.
func transportError(ctx context.Context, err error) error {
	if errors.Is(err, errOffPath) {
		return err
	}
	if e := sqlapi.ContextError(ctx, err); e != nil {
		return sqlapi.Wrap(e, err)
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) && urlErr.Timeout() {
		return sqlapi.Wrap(vibepass.ErrTimeout, err)
	}
	return sqlapi.Wrap(vibepass.ErrUnavailable, err)
}

// apiError is PostgREST's error body.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// answered is the error answer ae with status as the log shows it.
func (ae apiError) answered(status int) error {
	return fmt.Errorf("rest: PostgREST answered %d %s: %.200s", status, ae.Code, ae.Message)
}

// responseError maps a non-2xx PostgREST answer. A Postgres SQLSTATE in the body is
// mapped exactly as the direct upstream maps it, so both agree; PostgREST's own
// codes (PGRSTxxx) and bodies without a code are mapped by status.
func responseError(status int, body []byte) error {
	var ae apiError
	_ = json.Unmarshal(body, &ae) // a gateway error page has no JSON; the status still tells
	cause := ae.answered(status)
	if ae.Code != "" && !strings.HasPrefix(ae.Code, "PGRST") {
		if e := sqlapi.Error(ae.Code, ae.Message); e != nil {
			return sqlapi.Wrap(e, cause)
		}
		return cause
	}
	switch {
	case status == http.StatusUnauthorized && strings.Contains(strings.ToLower(ae.Message), "expired"):
		return sqlapi.Wrap(vibepass.ErrTokenExpired, cause)
	case status == http.StatusUnauthorized:
		return sqlapi.Wrap(&vibepass.Error{Code: vibepass.EUNAUTHORIZED, Message: "Invalid token", Reason: vibepass.RINVALIDTOKEN}, cause)
	case status == http.StatusForbidden:
		return sqlapi.Wrap(vibepass.ErrPermissionDenied, cause)
	case status == http.StatusBadRequest:
		return sqlapi.Wrap(vibepass.Errorf(vibepass.EINVALID, "Invalid request"), cause)
	case status == http.StatusGatewayTimeout:
		return sqlapi.Wrap(vibepass.ErrTimeout, cause)
	case status >= 500:
		return sqlapi.Wrap(vibepass.ErrUnavailable, cause)
	}
	return cause // 404 PGRST202 (function missing: migrations not applied) and the like are bugs
}
