/*
 * -------------------------------------------------------
 * public.profiles: one per auth user, made by a trigger on sign-up
 * -------------------------------------------------------
 * The name the model sees, and the five preference values it reads, each between 0 and 1.
 * Users read their own row and change only display_name and preferences; is_anonymous is
 * copied from auth.users by Supabase Auth's own writes, through triggers.
 */

/**
 * vibepass.touch_updated_at(): trigger that stamps updated_at on every update.
 */
create function vibepass.touch_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := pg_catalog.now();
  return new;
end;
$$;

revoke all on function vibepass.touch_updated_at() from public, anon, authenticated, service_role;

/*
 * Display names hold nothing a reader cannot see. The model reads display_name as text, and
 * so do people: control characters (tab, newline, ESC and BEL sequences), format characters
 * (zero-width spaces, bidi overrides such as RLO, soft hyphens, BOMs, tags) and spaces other
 * than U+0020 (NBSP, ideographic, line separators) let a name look like one thing and read as
 * another, or look blank. So a display_name must read the same after
 * vibepass.plain_display_name():
 *   * no Unicode Cc (U+0001-001F, U+007F-009F) or Cf character, and no Hangul filler
 *     (U+115F, U+1160, U+3164, U+FFA0: letters that render as nothing);
 *   * no space but U+0020 (Unicode Zs, Zl, Zp), never two in a row, none at either end.
 * A whitespace-only name is refused too. The Data API answers such an update with 23514
 * (PostgREST: 400). Sign-up never fails on it: the trigger cleans the metadata's name
 * instead, and falls back to the next source when nothing is left.
 */

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
create function vibepass.profile_display_name(meta jsonb, email text, id uuid)
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

revoke all on function vibepass.plain_display_name(text), vibepass.usable_display_name(text),
  vibepass.profile_display_name(jsonb, text, uuid)
  from public, anon, authenticated, service_role;
-- The CHECK profiles_display_name_plain calls plain_display_name as whoever writes the row,
-- and Postgres checks EXECUTE for that: users update their own display_name through the Data
-- API. It is a pure function in a schema the API does not expose, so nobody can call it as
-- an RPC.
grant execute on function vibepass.plain_display_name(text) to authenticated;

create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  -- The sign-up metadata's full_name or name, as Supabase Auth received it; not shown to the model.
  name text,
  display_name text not null
    constraint profiles_display_name_length
    check (pg_catalog.char_length(display_name) between 1 and 64 and pg_catalog.btrim(display_name) <> '')
    constraint profiles_display_name_plain
    check (display_name = vibepass.plain_display_name(display_name)),
  preferences double precision[] not null default '{0.5,0.5,0.5,0.5,0.5}'
    constraint profiles_preferences_valid
    check (
      pg_catalog.array_ndims(preferences) = 1
      and pg_catalog.cardinality(preferences) = 5
      and pg_catalog.array_position(preferences, null) is null
      and 0 <= all (preferences)
      and 1 >= all (preferences)
    ),
  created_at timestamptz not null default pg_catalog.now(),
  updated_at timestamptz not null default pg_catalog.now(),
  is_anonymous boolean not null default false
);

comment on table public.profiles is 'One per auth user: the name the model sees and five preferences in [0, 1].';
comment on column public.profiles.is_anonymous is 'auth.users.is_anonymous, kept by triggers on auth.users: an anonymous sign-in.';

create trigger profiles_touch_updated_at
  before update on public.profiles
  for each row execute function vibepass.touch_updated_at();

alter table public.profiles enable row level security;

revoke all on table public.profiles from public, anon, authenticated, service_role;
grant select on table public.profiles to authenticated, service_role;
-- Users change only these two columns of their own row; the CHECKs above validate them.
grant update (display_name, preferences) on table public.profiles to authenticated;

create policy "Users can read their own profile"
  on public.profiles for select
  to authenticated
  using (id = (select auth.uid()));

create policy "Users can update their own profile"
  on public.profiles for update
  to authenticated
  using (id = (select auth.uid()))
  with check (id = (select auth.uid()));

/*
 * Supabase Auth's writes to auth.users keep the profiles. Both triggers are SECURITY DEFINER
 * because Supabase Auth writes as its own role (supabase_auth_admin), which has no rights on
 * public.profiles; they live in the private schema, so no API role can call them.
 */

/**
 * vibepass.handle_new_user(): trigger on auth.users insert that makes the user's profile, so a
 * fresh sign-up can check in at once: its name from the metadata's full_name or name, its
 * display name from vibepass.profile_display_name(), and whether the sign-up was anonymous.
 */
create function vibepass.handle_new_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.profiles (id, name, display_name, is_anonymous)
  values (
    new.id,
    coalesce(new.raw_user_meta_data ->> 'full_name', new.raw_user_meta_data ->> 'name'),
    vibepass.profile_display_name(new.raw_user_meta_data, new.email, new.id),
    new.is_anonymous
  )
  on conflict (id) do nothing;
  return new;
end;
$$;

/**
 * vibepass.copy_user_anonymity(): trigger after Supabase Auth changes auth.users.is_anonymous
 * (an anonymous user who links an email or provider becomes permanent): the profile follows,
 * and a present user's row changes in the feed (30_presence_feed.sql). The model reads as
 * service_role, which has no rights on auth.users, so the flag is kept on the profile.
 */
create function vibepass.copy_user_anonymity()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.profiles p set is_anonymous = new.is_anonymous where p.id = new.id;
  return null;
end;
$$;

revoke all on function vibepass.handle_new_user(), vibepass.copy_user_anonymity()
  from public, anon, authenticated, service_role;

create trigger on_auth_user_created_vibepass_profile
  after insert on auth.users
  for each row execute function vibepass.handle_new_user();

create trigger on_auth_user_anonymity_vibepass_profile
  after update of is_anonymous on auth.users
  for each row when (old.is_anonymous is distinct from new.is_anonymous)
  execute function vibepass.copy_user_anonymity();
