package auth

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
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

// readOptions read JSON as encoding/json and Postgres accept it, and no more: invalid
// UTF-8 is taken (as encoding/json does, comparing names with it replaced by U+FFFD;
// Postgres refuses it outright), and a name twice in one object is refused, which
// jsontext does by default (RFC 7493), comparing names unescaped.
var readOptions = jsontext.AllowInvalidUTF8(true)

// objectReader is a decoder and the buffer it reads a document from in place, reused
// from readers: a decoder keeps the names of every object it is inside.
type objectReader struct {
	dec jsontext.Decoder
	in  bytes.Buffer
}

var readers = sync.Pool{New: func() any { return new(objectReader) }}

// release forgets the document, which a pooled reader must not keep alive, and puts r back.
func (r *objectReader) release() {
	r.in = bytes.Buffer{}
	r.dec.Reset(&r.in)
	readers.Put(r)
}

// objectMembers returns the members of the JSON object data, pointing into data, and
// fails with errDuplicateKey when any object in it, at any depth, names a key twice.
func objectMembers(data []byte) ([]member, error) {
	r := readers.Get().(*objectReader)
	defer r.release()
	r.in = *bytes.NewBuffer(data) // read in place: the decoder parses a bytes.Buffer's bytes directly
	dec := &r.dec
	dec.Reset(&r.in, readOptions)
	members := make([]member, 0, shortKeyNames)
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, readError(err, data)
	}
	for dec.PeekKind() == '"' {
		start := dec.InputOffset()
		if _, err := dec.ReadValue(); err != nil { // the name
			return nil, readError(err, data)
		}
		key := unquoteKey(bytes.TrimLeft(data[start:dec.InputOffset()], " \t\r\n,"))
		start = dec.InputOffset()
		if _, err := dec.ReadValue(); err != nil {
			return nil, readError(err, data)
		}
		value := bytes.TrimLeft(data[start:dec.InputOffset()], " \t\r\n:")
		members = append(members, member{key: key, value: value})
	}
	if _, err := dec.ReadToken(); err != nil { // }
		return nil, readError(err, data)
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, errNotObject
	}
	return members, nil
}

// readError is why data is refused: errDuplicateKey for a name twice in an object of a
// document that is valid JSON otherwise, errNotObject for anything else. The decoder
// stops at the first duplicate, so the rest of the document is checked here.
func readError(err error, data []byte) error {
	if errors.Is(err, jsontext.ErrDuplicateName) && jsontext.Value(data).IsValid(readOptions, jsontext.AllowDuplicateNames(true)) {
		return errDuplicateKey
	}
	return errNotObject
}

// unquoteKey returns a quoted key as readers see it: escapes resolved, and invalid
// UTF-8 replaced as encoding/json does (Postgres refuses it outright).
func unquoteKey(quoted []byte) []byte {
	if isPlainString(quoted) {
		return quoted[1 : len(quoted)-1]
	}
	key, _ := jsontext.AppendUnquote(nil, quoted) // valid: the decoder read it; invalid UTF-8 is replaced
	return key
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
