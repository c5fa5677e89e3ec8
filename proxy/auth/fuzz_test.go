package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
)

// FuzzVerify feeds Verify arbitrary token strings, and arbitrary headers and payloads
// signed with the HS256 secret (so they get past the signature to the claim checks). It
// never panics, fails only with a known message, and whatever it accepts reads the same
// to Postgres's jsonb (exact keys, no duplicates) as to the proxy and to encoding/json.
// The seeds run as an ordinary test; a longer run:
//
//	go test ./proxy/auth -run '^$' -fuzz FuzzVerify -fuzztime 60s
func FuzzVerify(f *testing.F) {
	secret := []byte(devtoken.Secret)
	es := newSigningKey(f, jwt.SigningMethodES256, "es-1")
	v := newTestVerifier(f, Options{HS256Secret: secret, JWKSURL: newJWKSServer(f, es).jwksURL()})

	valid := rawClaims(f, nil, "")
	hsToken := signRaw(f, jwt.SigningMethodHS256, secret, hsHeader, valid)
	for _, seed := range []struct{ token, header, payload string }{
		{hsToken, hsHeader, valid},
		{es.sign(f, userClaims(f, nil)), `{"alg":"ES256","kid":"es-1","typ":"JWT"}`, valid},
		{"", hsHeader, rawClaims(f, nil, `"SUB":"`+otherSub+`"`)},
		{"a.b.c", hsHeader, rawClaims(f, func(c jwt.MapClaims) { c["role"] = "service_role" }, `"Role":"authenticated"`)},
		{"e30.e30.", hsHeader, rawClaims(f, nil, `"ſub":"`+otherSub+`"`)},
		{strings.Repeat(".", 3), hsHeader, rawClaims(f, nil, `"sub":"`+otherSub+`"`)},
		{hsToken + ".", hsHeader, rawClaims(f, func(c jwt.MapClaims) { delete(c, "user_metadata") }, `"user_metadata":{"a":[{"b":1,"b":2}]}`)},
		{"Bearer " + hsToken, `{"alg":"HS256","crit":["exp"],"exp":1}`, valid},
		{hsToken[:len(hsToken)-2], `{"alg":"HS256","alg":"HS256"}`, valid},
		{signWith(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", userClaims(f, nil)), `{"alg":"none"}`, valid},
		{"", hsHeader, `{"sub":"` + testSub + `","role":"authenticated","aud":["authenticated"],"exp":1e10,"user_metadata":{"Name":1,"name":2}}`},
		{"", hsHeader, `null`},
		{"", hsHeader, `{"s\u0075b":"` + testSub + `","role":"authenticated","aud":"authenticated","exp":9999999999}`},
	} {
		f.Add(seed.token, seed.header, seed.payload)
	}
	// The checks below are about accepted tokens: make sure there are some.
	for _, token := range []string{hsToken, es.sign(f, userClaims(f, nil))} {
		if _, err := v.Verify(context.Background(), token); err != nil {
			f.Fatalf("a valid token is refused: %v", err)
		}
	}
	f.Fuzz(func(t *testing.T, token, header, payload string) {
		checkVerify(t, v, token)
		checkVerify(t, v, signRaw(t, jwt.SigningMethodHS256, secret, header, payload))
	})
}

// knownMessages are the messages Verify may fail with.
var knownMessages = map[string]bool{
	msgMissing: true, msgMalformed: true, msgNoExpiry: true, msgNotYetValid: true, msgBadSignature: true,
	msgWrongAudience: true, msgWrongRole: true, msgBadSubject: true, msgUnknownKey: true, msgUnsupportedAlg: true,
	msgDuplicateKey: true, msgCritical: true, vibepass.ErrTokenExpired.Message: true,
}

// checkVerify verifies token and checks what came back against a strict reading of it.
func checkVerify(t *testing.T, v *Verifier, token string) {
	caller, err := v.Verify(context.Background(), token)
	if err != nil {
		var e *vibepass.Error
		if !errors.As(err, &e) || e.Code != vibepass.EUNAUTHORIZED || !knownMessages[e.Message] {
			t.Fatalf("Verify failed with %#v, want EUNAUTHORIZED and a known message", err)
		}
		return
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("accepted a token of %d segments: %q", len(parts), token)
	}
	header, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	payload, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	if err1 != nil || err2 != nil {
		t.Fatalf("accepted a token whose segments are not base64url: %q", token)
	}
	if string(caller.Claims) != string(payload) || caller.Token != token {
		t.Fatalf("caller carries %q, want the payload as signed %q", caller.Claims, payload)
	}

	h, ok := strictObject(header)
	if !ok {
		t.Fatalf("accepted a header with duplicate keys or not an object: %s", header)
	}
	if _, crit := h["crit"]; crit || (h["alg"] != "HS256" && h["alg"] != "ES256") {
		t.Fatalf("accepted header %s", header)
	}

	claims, ok := strictObject(payload)
	if !ok {
		t.Fatalf("accepted a payload with duplicate keys or not an object: %s", payload)
	}
	var keys []string
	for k := range claims {
		for _, other := range keys {
			if strings.EqualFold(k, other) {
				t.Fatalf("accepted top-level keys %q and %q, one name to encoding/json: %s", k, other, payload)
			}
		}
		keys = append(keys, k)
	}
	aud := claims["aud"]
	if list, isList := aud.([]any); isList && len(list) > 0 {
		aud = list[0] // jwt accepts the audience anywhere in the list
		for _, a := range list {
			if a == vibepass.RoleAuthenticated {
				aud = a
			}
		}
	}
	if _, isNumber := claims["exp"].(json.Number); claims["sub"] != caller.UserID || !vibepass.IsUUID(caller.UserID) ||
		claims["role"] != vibepass.RoleAuthenticated || aud != vibepass.RoleAuthenticated || !isNumber {
		t.Fatalf("accepted user %q from claims that read exactly as %v", caller.UserID, claims)
	}

	// A case-insensitive reader sees the same user and role: there is nothing to confuse it.
	var loose struct{ Sub, Role string }
	if err := json.Unmarshal(payload, &loose); err != nil || loose.Sub != caller.UserID || loose.Role != vibepass.RoleAuthenticated {
		t.Fatalf("encoding/json reads sub %q role %q (%v), the proxy %q", loose.Sub, loose.Role, err, caller.UserID)
	}
}

// strictObject reads data as Postgres's jsonb reads it, keys compared exactly, written
// apart from the code under test (encoding/json's token stream): a JSON object with no
// duplicate key at any depth, or false.
func strictObject(data []byte) (map[string]any, bool) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	v, ok := strictValue(dec)
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // trailing data
	}
	obj, isObject := v.(map[string]any)
	return obj, ok && isObject
}

func strictValue(dec *json.Decoder) (any, bool) {
	tok, err := dec.Token()
	if err != nil {
		return nil, false
	}
	switch tok {
	case json.Delim('{'):
		obj := map[string]any{}
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return nil, false
			}
			name := key.(string)
			if _, dup := obj[name]; dup {
				return nil, false
			}
			value, ok := strictValue(dec)
			if !ok {
				return nil, false
			}
			obj[name] = value
		}
		_, err := dec.Token() // }
		return obj, err == nil
	case json.Delim('['):
		var list []any
		for dec.More() {
			item, ok := strictValue(dec)
			if !ok {
				return nil, false
			}
			list = append(list, item)
		}
		_, err := dec.Token() // ]
		return list, err == nil
	}
	return tok, true
}
