-- vibepass: one-hour "vibe passes" for signed-in users, and the list of people present right
-- now for the music model.
--
-- Passes expire by timestamp comparison alone: a pass is live iff status = 'active' and
-- expires_at > now(). No cron and no cleanup are needed for correctness; old rows stay until an
-- operator runs vibepass.purge_sessions().
--
-- Grants follow basejump's habit: Supabase grants everything in public to anon, authenticated
-- and service_role by default, so every object below first has those grants revoked, then gets
-- back exactly what is meant. Every function pins search_path = '' and qualifies every name.

/*
 * -------------------------------------------------------
 * Private schema vibepass: helpers and operator settings
 * -------------------------------------------------------
 * Not exposed through the Data API; anon, authenticated and service_role get no usage on it.
 */
create schema if not exists vibepass;
revoke all on schema vibepass from public, anon, authenticated, service_role;

/*
 * vibepass.settings: the operator's knobs, a single row. Clients can neither read nor change it.
 * Change the pass length with: update vibepass.settings set pass_length = '90 minutes';
 */
create table vibepass.settings (
  singleton boolean primary key default true check (singleton),
  pass_length interval not null default '60 minutes' check (pass_length > interval '0')
);
insert into vibepass.settings default values;
revoke all on table vibepass.settings from public, anon, authenticated, service_role;

/**
 * vibepass.iso_utc(at): a timestamp as the API shows it, ISO 8601 in UTC with a Z and whole
 * seconds (fractions are cut, not rounded): 2025-11-09T15:00:00Z.
 */
create function vibepass.iso_utc(at timestamptz)
returns text
language sql stable
set search_path = ''
as $$
  select pg_catalog.to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

/**
 * vibepass.minutes_left(expires): whole minutes until expires, rounded up, so a live pass never
 * shows 0 and a fresh 60-minute pass shows 60.
 */
create function vibepass.minutes_left(expires timestamptz)
returns integer
language sql stable
set search_path = ''
as $$
  select pg_catalog.ceil(extract(epoch from (expires - pg_catalog.now())) / 60)::integer
$$;

/**
 * vibepass.caller(): the signed-in caller's user id (auth.uid()), or an error with SQLSTATE
 * 42501 "not signed in" when the request carries no user (anon key, service role key, no JWT).
 * Every SECURITY DEFINER function in public starts with it.
 */
create function vibepass.caller()
returns uuid
language plpgsql stable
set search_path = ''
as $$
declare
  uid uuid := auth.uid();
begin
  if uid is null then
    raise exception 'not signed in' using errcode = '42501';
  end if;
  return uid;
end;
$$;

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

revoke all on function vibepass.iso_utc(timestamptz), vibepass.minutes_left(timestamptz),
  vibepass.caller(), vibepass.touch_updated_at() from public, anon, authenticated, service_role;

/*
 * -------------------------------------------------------
 * public.profiles: one per auth user, made by a trigger on sign-up
 * -------------------------------------------------------
 * preferences are the five numbers the model reads, each between 0 and 1.
 */
create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  name text,
  display_name text not null
    constraint profiles_display_name_length
    check (pg_catalog.char_length(display_name) between 1 and 64 and pg_catalog.btrim(display_name) <> ''),
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
  updated_at timestamptz not null default pg_catalog.now()
);

comment on table public.profiles is 'One per auth user: the name the model sees and five preferences in [0, 1].';

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

/**
 * vibepass.profile_display_name(meta, email, id): the display name a new profile starts with:
 * the sign-up metadata's display_name, user_name or name, else the email's local part, else
 * "user-" and the start of the id; trimmed and cut to 64 characters so sign-up never fails on
 * the display_name CHECK.
 */
create function vibepass.profile_display_name(meta jsonb, email text, id uuid)
returns text
language sql immutable
set search_path = ''
as $$
  select pg_catalog.left(pg_catalog.btrim(coalesce(
    nullif(pg_catalog.btrim(meta ->> 'display_name'), ''),
    nullif(pg_catalog.btrim(meta ->> 'user_name'), ''),
    nullif(pg_catalog.btrim(meta ->> 'name'), ''),
    nullif(pg_catalog.split_part(email, '@', 1), ''),
    'user-' || pg_catalog.left(id::text, 8)
  )), 64)
$$;

/**
 * vibepass.handle_new_user(): trigger on auth.users insert that makes the user's profile, so a
 * fresh sign-up can check in at once. SECURITY DEFINER because Supabase Auth inserts users as
 * its own role, which has no rights on public.profiles; it lives in the private schema, so no
 * API role can call it.
 */
create function vibepass.handle_new_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.profiles (id, name, display_name)
  values (
    new.id,
    coalesce(new.raw_user_meta_data ->> 'full_name', new.raw_user_meta_data ->> 'name'),
    vibepass.profile_display_name(new.raw_user_meta_data, new.email, new.id)
  )
  on conflict (id) do nothing;
  return new;
end;
$$;

revoke all on function vibepass.profile_display_name(jsonb, text, uuid), vibepass.handle_new_user()
  from public, anon, authenticated, service_role;

create trigger on_auth_user_created_vibepass_profile
  after insert on auth.users
  for each row execute function vibepass.handle_new_user();

-- Users who signed up before this migration get their profile now.
insert into public.profiles (id, name, display_name)
select u.id,
       coalesce(u.raw_user_meta_data ->> 'full_name', u.raw_user_meta_data ->> 'name'),
       vibepass.profile_display_name(u.raw_user_meta_data, u.email, u.id)
from auth.users u
on conflict (id) do nothing;

/*
 * -------------------------------------------------------
 * public.sessions: vibe passes
 * -------------------------------------------------------
 * The spec's columns, defaults, CHECK and indexes, plus how and when a pass ended.
 */
create table public.sessions (
  id uuid primary key default extensions.uuid_generate_v4(),
  user_id uuid not null references auth.users (id) on delete cascade,
  checked_in_at timestamptz not null default pg_catalog.now(),
  expires_at timestamptz not null,
  status text not null default 'active' check (status in ('active', 'inactive')),
  created_at timestamptz not null default pg_catalog.now(),
  -- When the pass ended: the checkout time, or its expires_at once the next check-in closed it.
  ended_at timestamptz,
  end_reason text check (end_reason in ('checkout', 'expired')),
  -- The last time a check-in extended this pass (null if never renewed).
  renewed_at timestamptz,
  constraint sessions_ended_only_when_inactive
    check (status = 'inactive' or (ended_at is null and end_reason is null))
);

comment on table public.sessions is 'Vibe passes. Live iff status = ''active'' and expires_at > now(); changed only through checkin() and checkout().';

create index idx_sessions_user on public.sessions (user_id);
create index idx_sessions_active on public.sessions (status, expires_at);
-- One live pass per user: at most one 'active' row each. An expired row still 'active' is closed
-- by the user's next check-in before a new one is made.
create unique index sessions_one_active_per_user on public.sessions (user_id) where status = 'active';

alter table public.sessions enable row level security;

-- No INSERT, UPDATE or DELETE for any API role: otherwise anyone could PATCH their own pass
-- through the Data API to last a year. Passes change only through the functions below.
revoke all on table public.sessions from public, anon, authenticated, service_role;
grant select on table public.sessions to authenticated, service_role;

create policy "Users can read their own passes"
  on public.sessions for select
  to authenticated
  using (user_id = (select auth.uid()));

/*
 * -------------------------------------------------------
 * RPC functions (supabase.rpc(...) / POST /rest/v1/rpc/<name>)
 * -------------------------------------------------------
 */

/**
 * public.checkin(): gives the caller a pass lasting vibepass.settings.pass_length (60 minutes by
 * default), or renews their live pass: same session_id, expires_at moved to now() + pass_length.
 * A pass that expired but is still marked active is closed (end_reason 'expired') and a new one
 * made. Safe under concurrency: simultaneous calls for one user all end on the same single pass.
 *
 * Returns {"session_id": uuid, "expires_at": "2025-11-09T15:00:00Z", "expires_in_minutes": 60}.
 * Errors: 42501 "not signed in" without a user in the JWT, or when that user has been deleted.
 * Callable by authenticated. SECURITY DEFINER: the caller has no write rights on sessions.
 */
create function public.checkin()
returns json
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  uid uuid := vibepass.caller();
  pass_length interval;
  pass public.sessions;
begin
  select s.pass_length into strict pass_length from vibepass.settings s;

  -- A token outlives its user (it stays valid until exp): answer a deleted account as for no
  -- user, not with the foreign-key error the insert below would raise.
  if not exists (select from auth.users u where u.id = uid) then
    raise exception 'not signed in' using errcode = '42501';
  end if;

  loop
    -- Free the one-active slot if the user's active pass has run out.
    update public.sessions s
       set status = 'inactive', ended_at = s.expires_at, end_reason = 'expired'
     where s.user_id = uid and s.status = 'active' and s.expires_at <= pg_catalog.now();

    insert into public.sessions as s (user_id, checked_in_at, expires_at)
    values (uid, pg_catalog.now(), pg_catalog.now() + pass_length)
    on conflict (user_id) where status = 'active'
    do update set expires_at = excluded.expires_at, renewed_at = pg_catalog.now()
       -- A concurrent call may have committed a pass that has expired by our clock (only with a
       -- tiny pass_length): leave it to the update above on the next round.
       where s.expires_at > pg_catalog.now()
    returning s.* into pass;

    exit when pass.id is not null;
  end loop;

  return pg_catalog.json_build_object(
    'session_id', pass.id,
    'expires_at', vibepass.iso_utc(pass.expires_at),
    'expires_in_minutes', vibepass.minutes_left(pass.expires_at)
  );
end;
$$;

/**
 * public.session_status(): the caller's live pass,
 * {"session_id": uuid, "checked_in_at": "...Z", "expires_at": "...Z", "minutes_remaining": 42},
 * or SQL NULL (JSON null through PostgREST) when they have none.
 * Errors: 42501 "not signed in" without a user in the JWT.
 * Callable by authenticated. SECURITY DEFINER only to reach the private helpers; it reads the
 * caller's own rows, exactly what RLS lets them read.
 */
create function public.session_status()
returns json
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  uid uuid := vibepass.caller();
  pass public.sessions;
begin
  select * into pass
    from public.sessions s
   where s.user_id = uid and s.status = 'active' and s.expires_at > pg_catalog.now();

  if pass.id is null then
    return null;
  end if;

  return pg_catalog.json_build_object(
    'session_id', pass.id,
    'checked_in_at', vibepass.iso_utc(pass.checked_in_at),
    'expires_at', vibepass.iso_utc(pass.expires_at),
    'minutes_remaining', vibepass.minutes_left(pass.expires_at)
  );
end;
$$;

/**
 * public.checkout(): ends the caller's live pass now (status 'inactive', end_reason 'checkout').
 * Returns {"session_id": uuid, "ended_at": "...Z"}, or SQL NULL (JSON null) when the caller had
 * no live pass: checking out twice is not an error.
 * Errors: 42501 "not signed in" without a user in the JWT.
 * Callable by authenticated. SECURITY DEFINER: the caller has no write rights on sessions.
 */
create function public.checkout()
returns json
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  uid uuid := vibepass.caller();
  pass public.sessions;
begin
  update public.sessions s
     set status = 'inactive', ended_at = pg_catalog.now(), end_reason = 'checkout'
   where s.user_id = uid and s.status = 'active' and s.expires_at > pg_catalog.now()
  returning s.* into pass;

  if pass.id is null then
    return null;
  end if;

  return pg_catalog.json_build_object(
    'session_id', pass.id,
    'ended_at', vibepass.iso_utc(pass.ended_at)
  );
end;
$$;

/**
 * public.active_users(): everyone with a live pass, newest check-in first, for the music model:
 * user_id, display_name, checked_in_at, expires_at, preferences.
 * Callable by service_role only (the model's backend). SECURITY INVOKER: service_role reads
 * both tables and bypasses RLS; nobody else may execute it.
 */
create function public.active_users()
returns table (
  user_id uuid,
  display_name text,
  checked_in_at timestamptz,
  expires_at timestamptz,
  preferences double precision[]
)
language sql
stable
set search_path = ''
as $$
  select s.user_id, p.display_name, s.checked_in_at, s.expires_at, p.preferences
    from public.sessions s
    join public.profiles p on p.id = s.user_id
   where s.status = 'active' and s.expires_at > pg_catalog.now()
   order by s.checked_in_at desc
$$;

revoke all on function public.checkin(), public.session_status(), public.checkout(), public.active_users()
  from public, anon, authenticated, service_role;
grant execute on function public.checkin(), public.session_status(), public.checkout() to authenticated;
grant execute on function public.active_users() to service_role;
