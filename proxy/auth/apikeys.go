package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/vibepass/vibepass"
)

// MinAPIKeyLen is the shortest model API key accepted: shorter ones are guessable.
const MinAPIKeyLen = 16

// APIKeys holds the model API keys; several at once let a key be rotated
// without downtime. It is safe for concurrent use.
type APIKeys struct {
	// digests are SHA-256 sums: comparing equal-length digests leaks no key length.
	digests [][sha256.Size]byte
}

// NewAPIKeys accepts one or more keys, each at least 16 characters with no surrounding spaces.
// Its errors name a key by its position, never by its value.
func NewAPIKeys(keys []string) (*APIKeys, error) {
	if len(keys) == 0 {
		return nil, errors.New("auth: no model API key configured")
	}
	a := &APIKeys{}
	for i, k := range keys {
		switch {
		case strings.TrimSpace(k) != k:
			return nil, fmt.Errorf("auth: model API key #%d has surrounding whitespace", i+1)
		case len(k) < MinAPIKeyLen:
			return nil, fmt.Errorf("auth: model API key #%d is shorter than %d characters", i+1, MinAPIKeyLen)
		}
		a.digests = append(a.digests, sha256.Sum256([]byte(k)))
	}
	return a, nil
}

// Check accepts a presented X-API-Key value: EUNAUTHORIZED when it is missing,
// EFORBIDDEN when it matches no configured key. It compares against every key in
// constant time, so neither timing nor position tells which key nearly matched.
func (a *APIKeys) Check(presented string) error {
	if presented == "" {
		return &vibepass.Error{Code: vibepass.EUNAUTHORIZED, Message: "Missing X-API-Key header", Reason: vibepass.RMISSINGAPIKEY}
	}
	digest := sha256.Sum256([]byte(presented))
	match := 0
	for i := range a.digests {
		match |= subtle.ConstantTimeCompare(digest[:], a.digests[i][:])
	}
	if match != 1 {
		return &vibepass.Error{Code: vibepass.EFORBIDDEN, Message: "Invalid API key", Reason: vibepass.RINVALIDAPIKEY}
	}
	return nil
}

// NewAPIKey returns a random model API key: 24 bytes from crypto/rand, hex-encoded.
func NewAPIKey() string {
	b := make([]byte, 24)
	rand.Read(b) // never fails: it crashes the program instead (Go 1.24+)
	return hex.EncodeToString(b)
}
