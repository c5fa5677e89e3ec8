package supabase_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// plainNamesMigration is the migration that makes display names plain.
const plainNamesMigration = "20261202000000_plain_display_names.sql"

// hangulFillers are letters that render as nothing; plain_display_name drops them with Cf.
var hangulFillers = []rune{0x115F, 0x1160, 0x3164, 0xFFA0}

// TestPlainDisplayNameMatchesUnicode checks the code point lists that Postgres 15's regexes
// need in place of \p{...} against Go's Unicode tables: every code point of the planes that
// hold assigned characters (0-3 and 14) is dropped exactly when it is Cf (or a Hangul
// filler), becomes a space exactly when it is Cc or a space or separator (Z*) other than
// U+0020, and is kept otherwise. Each code point goes in between "<" and ">", 4096 to a
// call, so every one is judged alone and the whole sweep takes a few hundred calls.
func TestPlainDisplayNameMatchesUnicode(t *testing.T) {
	db := localdbtest.Unseeded(t)
	rows, err := connect(t, db.PostgresURL).Query(context.Background(), `
		select cp / 4096, vibepass.plain_display_name(string_agg('<' || chr(cp) || '>', '' order by cp))
		  from generate_series(1, 983039) cp
		 where (cp <= 262143 or cp >= 917504)  -- U+1-3FFFF and U+E0000-EFFFF
		   and cp not between 55296 and 57343  -- U+D800-DFFF are not characters
		 group by 1 order by 1`)
	if err != nil {
		t.Fatal(err)
	}
	var (
		block int32
		plain string
		seen  int
	)
	if _, err := pgx.ForEachRow(rows, []any{&block, &plain}, func() error {
		for r := max(rune(block)*4096, 1); r < rune(block+1)*4096; r++ {
			if 0xD800 <= r && r <= 0xDFFF {
				continue
			}
			want := "<" + string(r) + ">"
			switch {
			case r == ' ':
			case unicode.In(r, unicode.Cf) || slices.Contains(hangulFillers, r):
				want = "<>"
			case unicode.In(r, unicode.Cc, unicode.Zs, unicode.Zl, unicode.Zp):
				want = "< >"
			}
			rest, ok := strings.CutPrefix(plain, want)
			if !ok {
				return fmt.Errorf("U+%04X: <%c> cleans to %.12q…, want %q", r, r, plain, want)
			}
			plain = rest
			seen++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := 0x40000 - 1 - 0x800 + 0x10000; seen != want {
		t.Fatalf("checked %d code points, want %d", seen, want)
	}
}

// TestPlainDisplayNamesMigrationCleansLiveRows pushes the migration onto a database whose
// profiles were saved under the old CHECK with names it now refuses, as a live project has
// them: the push must succeed, clean each name (or fall back to the sign-up default when
// nothing is left), leave good names alone, and enforce the rule from then on.
func TestPlainDisplayNamesMigrationCleansLiveRows(t *testing.T) {
	ctx := context.Background()
	conn, push := projectBefore(t, plainNamesMigration)

	// Names the old CHECK let through (it trimmed spaces only), each saved by its user.
	saved := []struct{ id, email, meta, name, want string }{
		{"00000000-0000-4000-8000-0000000000a1", "amy@test.local", `{}`, "Amy\tLee\n", "Amy Lee"},
		{"00000000-0000-4000-8000-0000000000a2", "bo@test.local", `{}`, "\u202eBo\u200b", "Bo"},
		{"00000000-0000-4000-8000-0000000000a3", "cy@test.local", `{}`, " \x1b[2J\a ", "[2J"},
		{"00000000-0000-4000-8000-0000000000a4", "di@test.local", `{"user_name": "Di\u00a0Di"}`, "\u00a0\u200b", "Di Di"},
		{"00000000-0000-4000-8000-0000000000a5", "\u200b@test.local", `{}`, "\u3000", "user-00000000"},
		{"00000000-0000-4000-8000-0000000000a6", "ed@test.local", `{}`, "Ed  Wood ", "Ed Wood"},
		{"00000000-0000-4000-8000-0000000000a7", "flo@test.local", `{}`, "Flo 🎧", "Flo 🎧"},
	}
	for _, s := range saved {
		if _, err := conn.Exec(ctx, `insert into auth.users (id, aud, role, email, raw_user_meta_data)
			values ($1, 'authenticated', 'authenticated', $2, $3)`, s.id, s.email, s.meta); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "update public.profiles set display_name = $2 where id = $1", s.id, s.name); err != nil {
			t.Fatalf("saving %q under the old CHECK: %v", s.name, err)
		}
	}

	push()
	for _, s := range saved {
		var name string
		if err := conn.QueryRow(ctx, "select display_name from public.profiles where id = $1", s.id).Scan(&name); err != nil {
			t.Fatal(err)
		}
		if name != s.want {
			t.Errorf("%q became %q, want %q", s.name, name, s.want)
		}
	}
	_, err := conn.Exec(ctx, "update public.profiles set display_name = $1 where id = $2", "Amy\u200bLee", saved[0].id)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.ConstraintName != "profiles_display_name_plain" {
		t.Fatalf("after the migration a zero-width space got %v, want the profiles_display_name_plain CHECK", err)
	}
}
