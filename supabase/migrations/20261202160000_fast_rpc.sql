-- vibepass: checkin(), session_status() and checkout() cost about what their bare statements
-- cost (issue 14). Same answers, errors, grants and security layout: the private SECURITY
-- DEFINER functions keep their names, signatures and attributes (CREATE OR REPLACE keeps
-- their grants and the public SECURITY INVOKER wrappers that call them); only their bodies
-- change. docs/performance.md ("The SQL against its bare statements") has the measurements.
--
-- What the bodies avoided, measured with `vibepass bench --sql` (pgbench):
--   * SQL-language helpers. PostgreSQL 15 plans a SQL function's body again at every call
--     unless it can inline it, and it never inlines one that has SET search_path, as every
--     function here must. auth.uid(), vibepass.iso_utc() and vibepass.minutes_left() were
--     three to four such calls per request, each a parse and a plan; PL/pgSQL keeps its
--     plans for the session. Their expressions are now written where they are used.
--   * Statements that could be one. checkin() read vibepass.settings and auth.users and
--     closed an expired pass before every insert; the insert now reads the settings and the
--     user itself, and the rarer paths (no such user, an expired pass still marked active)
--     run only when it made or renewed nothing.

/**
 * vibepass.caller(): the signed-in caller's user id, or 42501 "not signed in" when the
 * request carries no user. The same two claims auth.uid() reads, read here directly: a call
 * of auth.uid() (SQL with SET search_path) is planned anew every time.
 */
create or replace function vibepass.caller()
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  uid uuid := coalesce(
    nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), ''),
    nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'
  )::uuid;
begin
  if uid is null then
    raise exception 'not signed in' using errcode = '42501';
  end if;
  return uid;
end;
$$;

/**
 * vibepass.checkin(): see 20261127000000_sessions.sql. One insert makes the pass or renews
 * the live one; only when it does neither does the function find out why: the user was
 * deleted (42501), or their pass ran out but is still marked active (closed, then again).
 */
create or replace function vibepass.checkin()
returns json
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  uid uuid := vibepass.caller();
  sid uuid;
  expires timestamptz;
begin
  loop
    insert into public.sessions as s (user_id, checked_in_at, expires_at)
    select u.id, pg_catalog.now(), pg_catalog.now() + st.pass_length
      from auth.users u cross join vibepass.settings st
     where u.id = uid
    on conflict (user_id) where status = 'active'
    do update set expires_at = excluded.expires_at, renewed_at = pg_catalog.now()
       -- A pass that has run out is not renewed: it is closed below and a new one made.
       where s.expires_at > pg_catalog.now()
    returning s.id, s.expires_at into sid, expires;

    exit when sid is not null;

    -- A token outlives its user (it stays valid until exp): answer a deleted account as for
    -- no user.
    if not exists (select from auth.users u where u.id = uid) then
      raise exception 'not signed in' using errcode = '42501';
    end if;
    update public.sessions s
       set status = 'inactive', ended_at = s.expires_at, end_reason = 'expired'
     where s.user_id = uid and s.status = 'active' and s.expires_at <= pg_catalog.now();
  end loop;

  return pg_catalog.json_build_object(
    'session_id', sid,
    'expires_at', pg_catalog.to_char(expires at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'expires_in_minutes', pg_catalog.ceil(extract(epoch from (expires - pg_catalog.now())) / 60)::integer
  );
end;
$$;

/**
 * vibepass.session_status(): see 20261127000000_sessions.sql; one statement.
 */
create or replace function vibepass.session_status()
returns json
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  uid uuid := vibepass.caller();
  pass json;
begin
  select pg_catalog.json_build_object(
           'session_id', s.id,
           'checked_in_at', pg_catalog.to_char(s.checked_in_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           'expires_at', pg_catalog.to_char(s.expires_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           'minutes_remaining', pg_catalog.ceil(extract(epoch from (s.expires_at - pg_catalog.now())) / 60)::integer)
    into pass
    from public.sessions s
   where s.user_id = uid and s.status = 'active' and s.expires_at > pg_catalog.now();
  return pass;
end;
$$;

/**
 * vibepass.checkout(): see 20261127000000_sessions.sql; one statement.
 */
create or replace function vibepass.checkout()
returns json
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  uid uuid := vibepass.caller();
  ended json;
begin
  update public.sessions s
     set status = 'inactive', ended_at = pg_catalog.now(), end_reason = 'checkout'
   where s.user_id = uid and s.status = 'active' and s.expires_at > pg_catalog.now()
  returning pg_catalog.json_build_object(
    'session_id', s.id,
    'ended_at', pg_catalog.to_char(s.ended_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
  into ended;
  return ended;
end;
$$;

-- One index fewer to write. A renewal moves expires_at, which idx_sessions_active holds, so it
-- is never a HOT update: every index of public.sessions gets a new entry, at every check-in.
-- idx_sessions_live_by_checkin (20261202130000_active_users_pages.sql) was meant for the
-- list's keyset pages, but the planner reads every page through idx_sessions_active and a
-- top-N sort instead (EXPLAIN in docs/performance.md), so it only cost writes.
drop index public.idx_sessions_live_by_checkin;
