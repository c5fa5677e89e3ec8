-- vibepass: display names hold nothing a reader cannot see. The model reads display_name as
-- text, and so do people: control characters (tab, newline, ESC and BEL sequences), format
-- characters (zero-width spaces, bidi overrides such as RLO, soft hyphens, BOMs, tags) and
-- spaces other than U+0020 (NBSP, ideographic, line separators) let a name look like one
-- thing and read as another, or look blank. The first migration trimmed only spaces.
--
-- From now on a display_name must read the same after vibepass.plain_display_name():
--   * no Unicode Cc (U+0001-001F, U+007F-009F) or Cf character, and no Hangul filler
--     (U+115F, U+1160, U+3164, U+FFA0: letters that render as nothing);
--   * no space but U+0020 (Unicode Zs, Zl, Zp), never two in a row, none at either end.
-- So a whitespace-only name is refused too. The Data API answers such an update with
-- 23514 (PostgREST: 400). Sign-up never fails on it: the trigger cleans the metadata's name
-- instead, and falls back to the next source when nothing is left.
--
-- Profiles saved before this migration that break the rule are cleaned the same way first,
-- so `supabase db push` succeeds on a live project.

/**
 * vibepass.plain_display_name(raw): raw as a name should read: format characters and Hangul
 * fillers dropped (they are invisible, so "Ad<ZWSP>min" becomes "Admin"), every run of control
 * characters and spaces of any kind made one U+0020, and the ends trimmed. Null for null.
 * Its code point lists are Unicode 15's categories, checked against Go's tables by
 * supabase/display_name_test.go.
 */
create function vibepass.plain_display_name(raw text)
returns text
language sql
immutable
strict
parallel safe
set search_path = ''
as $$
  select pg_catalog.btrim(pg_catalog.regexp_replace(pg_catalog.regexp_replace(raw,
    -- Cf (format) and the Hangul fillers: dropped.
    '[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]',
    '', 'g'),
    -- Cc (control), Zs (spaces, U+0020 included), Zl and Zp: each run becomes one space.
    '[\u0001-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+',
    ' ', 'g'), ' ')
$$;

/**
 * vibepass.usable_display_name(raw): plain_display_name(raw) cut to 64 characters, or null
 * when nothing is left: what a sign-up may take as its display name.
 */
create function vibepass.usable_display_name(raw text)
returns text
language sql
immutable
set search_path = ''
as $$
  select nullif(pg_catalog.rtrim(pg_catalog.left(vibepass.plain_display_name(raw), 64), ' '), '')
$$;

/**
 * vibepass.profile_display_name(meta, email, id): the display name a new profile starts with:
 * the sign-up metadata's display_name, user_name or name, else the email's local part, else
 * "user-" and the start of the id; the first that is usable once cleaned, so sign-up never
 * fails on the display_name CHECKs.
 */
create or replace function vibepass.profile_display_name(meta jsonb, email text, id uuid)
returns text
language sql
immutable
set search_path = ''
as $$
  select coalesce(
    vibepass.usable_display_name(meta ->> 'display_name'),
    vibepass.usable_display_name(meta ->> 'user_name'),
    vibepass.usable_display_name(meta ->> 'name'),
    vibepass.usable_display_name(pg_catalog.split_part(email, '@', 1)),
    'user-' || pg_catalog.left(id::text, 8)
  )
$$;

revoke all on function vibepass.plain_display_name(text), vibepass.usable_display_name(text)
  from public, anon, authenticated, service_role;
-- The CHECK below calls plain_display_name as whoever writes the row, and Postgres checks
-- EXECUTE for that: users update their own display_name through the Data API. It is a pure
-- function in a schema the API does not expose, so nobody can call it as an RPC.
grant execute on function vibepass.plain_display_name(text) to authenticated;

-- Existing names that break the rule: cleaned, or the sign-up default when nothing is left.
update public.profiles p
   set display_name = coalesce(
         vibepass.usable_display_name(p.display_name),
         vibepass.profile_display_name(u.raw_user_meta_data, u.email, u.id))
  from auth.users u
 where u.id = p.id
   and p.display_name <> vibepass.plain_display_name(p.display_name);

alter table public.profiles
  add constraint profiles_display_name_plain
  check (display_name = vibepass.plain_display_name(display_name));
