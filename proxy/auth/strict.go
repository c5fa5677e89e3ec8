package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// errDuplicateKey reports a token that JSON readers could read differently: Postgres's
// jsonb keeps the last of two equal keys, other parsers the first, and encoding/json
// also takes "SUB" or "ſub" for "sub".
var errDuplicateKey = errors.New("a JSON object names a key twice")

// errNotObject is objectMembers' answer to what is not a JSON object.
var errNotObject = errors.New("not a JSON object")

// member is one top-level key of an object, unescaped, and its value as written.
type member struct {
	key, value []byte
}

// objectMembers returns the members of the JSON object data, pointing into data, and
// fails with errDuplicateKey when any object in it, at any depth, names a key twice
// (compared unescaped, as every reader compares them). It walks the bytes itself:
// encoding/json's token stream or a map costs a hundred allocations or more for a
// Supabase token, and this runs on every request.
func objectMembers(data []byte) ([]member, error) {
	if !json.Valid(data) {
		return nil, errNotObject
	}
	s := keyScanner{data: data, members: make([]member, 0, shortKeyNames)}
	s.skipSpace()
	if s.data[s.pos] != '{' {
		return nil, errNotObject
	}
	err := s.value()
	return s.members, err
}

// keyScanner walks a document known to be valid JSON.
type keyScanner struct {
	data    []byte
	pos     int
	depth   int      // of objects around pos
	members []member // of the outermost object
}

func (s *keyScanner) skipSpace() {
	for s.pos < len(s.data) && strings.IndexByte(" \t\r\n", s.data[s.pos]) >= 0 {
		s.pos++
	}
}

// value passes over one value, checking every object in it.
func (s *keyScanner) value() error {
	s.skipSpace()
	switch s.data[s.pos] {
	case '{':
		return s.object()
	case '[':
		s.pos++
		for {
			s.skipSpace()
			if s.data[s.pos] == ']' {
				s.pos++
				return nil
			}
			if err := s.value(); err != nil {
				return err
			}
			s.skipSpace()
			if s.data[s.pos] == ',' {
				s.pos++
			}
		}
	case '"':
		s.str()
	default: // a number, true, false or null
		for s.pos < len(s.data) && strings.IndexByte(",]} \t\r\n", s.data[s.pos]) < 0 {
			s.pos++
		}
	}
	return nil
}

// object passes over one object, failing on a key it has seen in it before.
func (s *keyScanner) object() error {
	s.pos++ // {
	s.depth++
	var seen keyNames
	for {
		s.skipSpace()
		if s.data[s.pos] == '}' {
			s.pos++
			s.depth--
			return nil
		}
		key := unquoteKey(s.str())
		if !seen.add(key) {
			return errDuplicateKey
		}
		s.skipSpace()
		s.pos++ // :
		s.skipSpace()
		start := s.pos
		if err := s.value(); err != nil {
			return err
		}
		if s.depth == 1 {
			s.members = append(s.members, member{key: key, value: s.data[start:s.pos]})
		}
		s.skipSpace()
		if s.data[s.pos] == ',' {
			s.pos++
		}
	}
}

// str passes over a string and returns it as written, quotes included.
func (s *keyScanner) str() []byte {
	start := s.pos
	s.pos++ // "
	for s.data[s.pos] != '"' {
		if s.data[s.pos] == '\\' {
			s.pos++ // the escaped byte cannot end the string
		}
		s.pos++
	}
	s.pos++
	return s.data[start:s.pos]
}

// unquoteKey returns a quoted key as readers see it: escapes resolved, and invalid
// UTF-8 replaced as encoding/json does (Postgres refuses it outright).
func unquoteKey(quoted []byte) []byte {
	if isPlainString(quoted) {
		return quoted[1 : len(quoted)-1]
	}
	var key string
	_ = json.Unmarshal(quoted, &key) // a valid JSON string always decodes
	return []byte(key)
}

// keyNames holds the keys of one object: a short list, then a map once it is long, so a
// payload of many keys cannot make the check quadratic.
type keyNames struct {
	list [shortKeyNames][]byte // the first n, in an array so that a short object allocates nothing
	n    int
	set  map[string]bool
}

// shortKeyNames is how many keys keyNames compares one by one.
const shortKeyNames = 16

// add adds key and reports whether it was new.
func (k *keyNames) add(key []byte) bool {
	if k.set != nil {
		if k.set[string(key)] {
			return false
		}
		k.set[string(key)] = true
		return true
	}
	for _, seen := range k.list[:k.n] {
		if bytes.Equal(seen, key) {
			return false
		}
	}
	if k.n < shortKeyNames {
		k.list[k.n] = key
		k.n++
		return true
	}
	k.set = make(map[string]bool, 4*shortKeyNames)
	for _, seen := range k.list {
		k.set[string(seen)] = true
	}
	k.set[string(key)] = true
	return true
}

// checkFoldedKeys fails with errDuplicateKey when two keys of members are one name to a
// case-insensitive reader such as encoding/json, which matches object keys to struct
// fields under Unicode simple folding: "SUB", "Sub" and "ſub" are all "sub".
func checkFoldedKeys(members []member) error {
	var seen keyNames
	for _, m := range members {
		if !seen.add(foldKey(m.key)) {
			return errDuplicateKey
		}
	}
	return nil
}

// foldKey maps key to one spelling per case-insensitive class: the lower case of what
// encoding/json folds each letter to, so "ſ" and "K" (Kelvin) meet "s" and "k". The
// usual lower-case ASCII claim names come back as they are, without an allocation.
func foldKey(key []byte) []byte {
	for _, c := range key {
		if c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			return bytes.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(unicode.ToLower(r))) }, key)
		}
	}
	return key
}
