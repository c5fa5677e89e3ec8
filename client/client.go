// Package client is a Go client of the vibepass HTTP API: the user endpoints
// (check-in, session, checkout) with a TokenSource for the signed-in person's Supabase
// access token, and the model endpoints (the active users, their summary and history,
// and the presence feed, followed with resume) with an API key. Every failure is a
// *Error; it needs nothing beyond the standard library.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/vibepass/vibepass"
)

// DefaultTimeout bounds each request but the event stream, unless WithTimeout says otherwise.
const DefaultTimeout = 30 * time.Second

// TokenSource gives the signed-in user's current access token (a Supabase access
// token); it is asked before every user request, so it may refresh the token.
type TokenSource interface {
	// Token returns the access token to send as "Authorization: Bearer <token>".
	Token(ctx context.Context) (string, error)
}

// StaticToken is a TokenSource that always gives the same token.
type StaticToken string

// Token returns the token itself.
func (s StaticToken) Token(context.Context) (string, error) { return string(s), nil }

// TokenFunc adapts a function to a TokenSource.
type TokenFunc func(ctx context.Context) (string, error)

// Token calls f.
func (f TokenFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests with hc (its Timeout, if set, also cuts Follow's streams).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithAPIKey sets the model API key sent as X-API-Key to the model endpoints.
func WithAPIKey(key string) Option { return func(c *Client) { c.apiKey = key } }

// WithTokenSource sets where the user endpoints get the access token they send.
func WithTokenSource(ts TokenSource) Option { return func(c *Client) { c.tokens = ts } }

// WithTimeout bounds each request but the event stream (0: no bound but the context's).
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// Client calls one vibepass server; it is safe for concurrent use.
type Client struct {
	base    string
	http    *http.Client
	apiKey  string
	tokens  TokenSource
	timeout time.Duration
}

// New returns a client of the server at baseURL (e.g. "http://127.0.0.1:3000"), or an
// error when baseURL is not an absolute http(s) URL without credentials.
func New(baseURL string, opts ...Option) (*Client, error) {
	if err := vibepass.CheckServiceURL(baseURL); err != nil {
		return nil, fmt.Errorf("vibepass client: base URL: %w", err)
	}
	c := &Client{base: strings.TrimRight(baseURL, "/"), http: &http.Client{}, timeout: DefaultTimeout}
	for _, o := range opts {
		o(c)
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	return c, nil
}

// BaseURL returns the server's URL, without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// answer is a complete answer: status, header and body.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends method path with the headers and reads the whole answer; any failure to
// get one is an *Error.
func (c *Client) do(ctx context.Context, method, path string, header http.Header) (*answer, error) {
	reqCtx := ctx
	if c.timeout > 0 {
		var cancel context.CancelFunc
		reqCtx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(reqCtx, method, c.base+path, nil)
	if err != nil {
		return nil, &Error{Code: CodeConnection, Message: err.Error(), Err: err}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, transportError(ctx, err, c.base)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) && ctx.Err() == nil {
			return nil, &Error{Code: CodeConnection, Message: fmt.Sprintf("the answer from %s was cut off", c.base), Err: err}
		}
		return nil, transportError(ctx, err, c.base)
	}
	return &answer{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// call sends the request and decodes a 2xx answer into out (when out is not nil),
// checking "success": true; any other answer is an *Error.
func (c *Client) call(ctx context.Context, method, path string, header http.Header, out any) (*answer, error) {
	a, err := c.do(ctx, method, path, header)
	if err != nil {
		return nil, err
	}
	if a.status < 200 || a.status > 299 {
		return nil, errorFromResponse(a.status, a.header, a.body)
	}
	var ok struct {
		Success *bool `json:"success"`
	}
	if err := json.Unmarshal(a.body, &ok); err != nil {
		return nil, badResponse(a.status, "HTTP %d with a body that is not JSON", a.status)
	}
	if ok.Success == nil || !*ok.Success {
		return nil, badResponse(a.status, "HTTP %d without \"success\": true", a.status)
	}
	if out != nil {
		dec := json.NewDecoder(bytes.NewReader(a.body))
		if err := dec.Decode(out); err != nil {
			return nil, badResponse(a.status, "%s %s: %v", method, path, err)
		}
	}
	return a, nil
}

// userHeader is the header of a user request, with the TokenSource's token.
func (c *Client) userHeader(ctx context.Context) (http.Header, error) {
	h := http.Header{"Accept": {"application/json"}}
	if c.tokens == nil {
		return h, nil // the server answers 401 missing_token
	}
	token, err := c.tokens.Token(ctx)
	if err != nil {
		return nil, &Error{Code: CodeTokenSource, Message: "the token source failed: " + err.Error(), Err: err}
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return h, nil
}

// modelHeader is the header of a model request, with the API key.
func (c *Client) modelHeader(accept string) http.Header {
	h := http.Header{"Accept": {accept}}
	if c.apiKey != "" {
		h.Set("X-API-Key", c.apiKey)
	}
	return h
}

// Checkin makes the caller's pass, or renews the live one (same SessionID, new ExpiresAt).
func (c *Client) Checkin(ctx context.Context) (vibepass.Checkin, error) {
	h, err := c.userHeader(ctx)
	if err != nil {
		return vibepass.Checkin{}, err
	}
	var body struct {
		Data *vibepass.Checkin `json:"data"`
	}
	if _, err := c.call(ctx, http.MethodPost, "/api/checkin", h, &body); err != nil {
		return vibepass.Checkin{}, err
	}
	if body.Data == nil || body.Data.SessionID == "" {
		return vibepass.Checkin{}, badResponse(http.StatusOK, "check-in answer without data")
	}
	return *body.Data, nil
}

// Session returns the caller's live pass, or nil (and no error) when there is none.
func (c *Client) Session(ctx context.Context) (*vibepass.Pass, error) {
	h, err := c.userHeader(ctx)
	if err != nil {
		return nil, err
	}
	var body struct {
		Active *bool          `json:"active"`
		Data   *vibepass.Pass `json:"data"`
	}
	if _, err := c.call(ctx, http.MethodGet, "/api/session", h, &body); err != nil {
		return nil, err
	}
	switch {
	case body.Active == nil:
		return nil, badResponse(http.StatusOK, "session answer without \"active\"")
	case !*body.Active:
		return nil, nil
	case body.Data == nil || body.Data.SessionID == "":
		return nil, badResponse(http.StatusOK, "active session answer without data")
	}
	return body.Data, nil
}

// checkedOut is the message of a checkout that ended a pass.
const checkedOut = "Checked out successfully"

// Checkout ends the caller's live pass; Ended is false when there was none (still a
// success). The HTTP API does not report the session id, so SessionID stays empty.
func (c *Client) Checkout(ctx context.Context) (vibepass.Checkout, error) {
	h, err := c.userHeader(ctx)
	if err != nil {
		return vibepass.Checkout{}, err
	}
	var body struct {
		Message string `json:"message"`
	}
	if _, err := c.call(ctx, http.MethodPost, "/api/checkout", h, &body); err != nil {
		return vibepass.Checkout{}, err
	}
	return vibepass.Checkout{Ended: body.Message == checkedOut}, nil
}

// ActiveUsers is GET /api/model/active-users: everyone with a live pass, or, with
// Unchanged, word that nothing changed since the list whose ETag was sent.
type ActiveUsers struct {
	// Unchanged is true when the server answered 304 to the ETag sent: keep the rows you have; Users is nil.
	Unchanged bool
	// Users are the present users, newest check-in first.
	Users []vibepass.ActiveUser
	// Count is the number of users (len(Users)).
	Count int
	// Cursor is the presence feed's position the list reflects (empty when Unchanged).
	Cursor string
	// ETag is the value to pass to the next ActiveUsers call.
	ETag string
	// Timestamp is the server's clock when the read began (zero when Unchanged).
	Timestamp time.Time
}

// ActiveUsers lists everyone with a live pass. With etag (a previous answer's ETag)
// the answer is Unchanged while nothing changed (the server's 304); "" always lists.
func (c *Client) ActiveUsers(ctx context.Context, etag string) (*ActiveUsers, error) {
	h := c.modelHeader("application/json")
	if etag != "" {
		h.Set("If-None-Match", etag)
	}
	a, err := c.do(ctx, http.MethodGet, "/api/model/active-users", h)
	if err != nil {
		return nil, err
	}
	if a.status == http.StatusNotModified {
		if etag == "" {
			return nil, badResponse(a.status, "HTTP 304 to a request without If-None-Match")
		}
		tag := a.header.Get("ETag")
		if tag == "" {
			tag = etag
		}
		return &ActiveUsers{Unchanged: true, ETag: tag}, nil
	}
	if a.status < 200 || a.status > 299 {
		return nil, errorFromResponse(a.status, a.header, a.body)
	}
	var body struct {
		Success   bool                   `json:"success"`
		Timestamp *time.Time             `json:"timestamp"`
		Data      *[]vibepass.ActiveUser `json:"data"`
		Count     *int                   `json:"count"`
		Cursor    *string                `json:"cursor"`
	}
	if err := json.Unmarshal(a.body, &body); err != nil {
		return nil, badResponse(a.status, "the active users' answer: %v", err)
	}
	switch {
	case !body.Success || body.Data == nil || body.Count == nil || body.Cursor == nil || body.Timestamp == nil:
		return nil, badResponse(a.status, "the active users' answer lacks success, data, count, cursor or timestamp")
	case *body.Count != len(*body.Data):
		return nil, badResponse(a.status, "count %d but %d rows", *body.Count, len(*body.Data))
	}
	for _, u := range *body.Data {
		if err := checkUser(u); err != nil {
			return nil, badResponse(a.status, "%v", err)
		}
	}
	return &ActiveUsers{Users: *body.Data, Count: *body.Count, Cursor: *body.Cursor,
		ETag: a.header.Get("ETag"), Timestamp: *body.Timestamp}, nil
}

// checkUser reports a row that lacks what every row has.
func checkUser(u vibepass.ActiveUser) error {
	if u.UserID == "" || u.CheckedInAt.IsZero() || u.ExpiresAt.IsZero() || len(u.Preferences) != 5 {
		return fmt.Errorf("a user row lacks user_id, checked_in_at, expires_at or five preferences: %+v", u)
	}
	return nil
}

// Summary is GET /api/model/summary: how many are present and their mean preferences.
type Summary struct {
	// Count is the number present.
	Count int64
	// Mean is the per-dimension mean of the present users' preferences; nil when nobody is present.
	Mean []float64
	// Cursor is the presence feed's position the summary reflects.
	Cursor string
	// Timestamp is the server's clock when the read began.
	Timestamp time.Time
}

// Summary reads how many are present and their mean preferences.
func (c *Client) Summary(ctx context.Context) (*Summary, error) {
	var body struct {
		Timestamp *time.Time `json:"timestamp"`
		Count     *int64     `json:"count"`
		Mean      []float64  `json:"mean"`
		Cursor    *string    `json:"cursor"`
	}
	a, err := c.call(ctx, http.MethodGet, "/api/model/summary", c.modelHeader("application/json"), &body)
	if err != nil {
		return nil, err
	}
	if body.Count == nil || body.Cursor == nil || body.Timestamp == nil {
		return nil, badResponse(a.status, "the summary lacks count, cursor or timestamp")
	}
	return &Summary{Count: *body.Count, Mean: body.Mean, Cursor: *body.Cursor, Timestamp: *body.Timestamp}, nil
}

// History is GET /api/model/history: how many were present at the end of each of the last 60 minutes.
type History struct {
	// Minutes are the points, oldest first; the last is when the server computed it.
	Minutes []vibepass.PresencePoint
	// Timestamp is the server's clock when it answered.
	Timestamp time.Time
}

// History reads how many were present at the end of each of the last 60 minutes.
func (c *Client) History(ctx context.Context) (*History, error) {
	var body struct {
		Timestamp *time.Time `json:"timestamp"`
		Minutes   *[]struct {
			At    time.Time `json:"at"`
			Count int64     `json:"count"`
		} `json:"minutes"`
	}
	a, err := c.call(ctx, http.MethodGet, "/api/model/history", c.modelHeader("application/json"), &body)
	if err != nil {
		return nil, err
	}
	if body.Minutes == nil || body.Timestamp == nil {
		return nil, badResponse(a.status, "the history lacks minutes or timestamp")
	}
	h := &History{Timestamp: *body.Timestamp, Minutes: make([]vibepass.PresencePoint, 0, len(*body.Minutes))}
	for _, m := range *body.Minutes {
		h.Minutes = append(h.Minutes, vibepass.PresencePoint{At: m.At, Count: m.Count})
	}
	return h, nil
}
