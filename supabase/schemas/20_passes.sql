/*
 * -------------------------------------------------------
 * public.sessions: vibe passes
 * -------------------------------------------------------
 * A pass is live iff status = 'active' and expires_at > now(), the rule vibepass.live_passes
 * (below) states once for every reader. It expires by that timestamp comparison alone: no
 * cron and no cleanup are needed for correctness. An expired pass still marked 'active' is
 * closed by the user's next check-in. A pass that ended longer ago than
 * vibepass.settings.pass_retention (30 days by default) is deleted by presence_tick(), which
 * runs before every read of the list and poll of the feed (30_presence_feed.sql), so the table
 * stays bounded with no cron job either; an operator may purge sooner with
 * vibepass.purge_sessions() (50_operator.sql).
 */
create table public.sessions (
  id uuid primary key default extensions.uuid_generate_v4(),
  user_id uuid not null references auth.users (id) on delete cascade,
  checked_in_at timestamptz not null default pg_catalog.now(),
  expires_at timestamptz not null,
  status text not null default 'active'
    constraint sessions_status_check check (status in ('active', 'inactive')),
  created_at timestamptz not null default pg_catalog.now(),
  -- When the pass ended: the checkout or sign-out time, or its expires_at once the next
  -- check-in closed it.
  ended_at timestamptz,
  end_reason text
    constraint sessions_end_reason_check check (end_reason in ('checkout', 'expired', 'signed_out')),
  -- The last time a check-in extended this pass (null if never renewed).
  renewed_at timestamptz,
  constraint sessions_ended_only_when_inactive
    check (status = 'inactive' or (ended_at is null and end_reason is null))
);

comment on table public.sessions is 'Vibe passes; the live ones are vibepass.live_passes. No API role writes them: checkin(), checkout(), sign-out (a trigger on auth.sessions), an account''s deletion (cascade), and vibepass.delete_ended_passes() (from presence_tick() after vibepass.settings.pass_retention, and from vibepass.purge_sessions()) do.';

-- Backs the foreign key: deleting a user deletes their passes through it (docs/supabase.md
-- has the measurements of each index).
create index idx_sessions_user on public.sessions (user_id);
-- Serves vibepass.live_passes for the model's reads, presence_tick()'s search for passes that
-- ran out, and session_counts.
create index idx_sessions_active on public.sessions (status, expires_at);
-- One live pass per user: at most one 'active' row each. checkin() upserts on it, and
-- session_status() and checkout() find the caller's pass through it.
create unique index sessions_one_active_per_user on public.sessions (user_id) where status = 'active';
-- The passes that were closed (checkout, sign-out, or expired and closed by the next
-- check-in), by when they ended, for vibepass.delete_ended_passes(). Partial: a check-in or
-- a renewal, which write 'active' rows, never touch it. Passes still 'active' that ran out
-- are found through idx_sessions_active.
create index sessions_ended on public.sessions ((coalesce(ended_at, expires_at))) where status = 'inactive';

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
 * vibepass.live_passes: the passes live now, the one place the rule is written. Whatever
 * needs live passes reads (or ends them) through it: session_status(), checkout(), the
 * sign-out trigger, the model's list, summary and gauge, the operator's active_sessions.
 * A view, not a function: Postgres merges a simple view into each query that names it, so
 * the plans are those of the predicate written out (idx_sessions_active for the list,
 * sessions_one_active_per_user for one user's pass), and it is automatically updatable, so
 * checkout() ends a pass with an UPDATE through it. A SQL function would be inlined only
 * without SET search_path, which the advisor (lint 0011) flags. security_invoker: it reads
 * public.sessions with its reader's rights. service_role may read it, through the public
 * functions that name it (their BEGIN ATOMIC bodies need no USAGE on vibepass).
 */
create view vibepass.live_passes
with (security_invoker = true)
as
select s.id, s.user_id, s.checked_in_at, s.expires_at, s.status, s.created_at, s.ended_at, s.end_reason, s.renewed_at
  from public.sessions s
 where s.status = 'active' and s.expires_at > pg_catalog.now();

revoke all on table vibepass.live_passes from public, anon, authenticated, service_role;
grant select on table vibepass.live_passes to service_role;

/**
 * vibepass.delete_ended_passes(cutoff, max_rows): deletes up to max_rows passes (all when
 * null) that ended before cutoff, oldest first, and returns how many it deleted. A pass ended
 * when it was closed ("ended_at", status 'inactive') or when it ran out (expires_at, still
 * 'active' until the user's next check-in); so a cutoff at or before now() never touches a
 * live pass. Two index ranges (sessions_ended, idx_sessions_active) that end at cutoff: with
 * nothing to delete they read a page or two each and write nothing. Rows another transaction
 * is writing are skipped (SKIP LOCKED), so a caller holding the feed's lock, as
 * presence_tick() does, never waits for a check-in that waits for that lock at its commit.
 * The feed's trigger logs nothing for these deletions as long as the passes' ends are
 * already in the feed (presence_tick() logs the expiries before it calls this).
 * Called by presence_tick() and vibepass.purge_sessions(); no API role may call it.
 */
create function vibepass.delete_ended_passes(cutoff timestamptz, max_rows bigint)
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  closed bigint;
  ran_out bigint;
begin
  delete from public.sessions s
   where s.ctid = any (array(select e.ctid from public.sessions e
                              where e.status = 'inactive' and coalesce(e.ended_at, e.expires_at) < cutoff
                              order by coalesce(e.ended_at, e.expires_at)
                              limit max_rows
                              for update skip locked));
  get diagnostics closed = row_count;

  delete from public.sessions s
   where s.ctid = any (array(select e.ctid from public.sessions e
                              where e.status = 'active' and e.expires_at < cutoff
                              order by e.expires_at
                              limit max_rows - closed
                              for update skip locked));
  get diagnostics ran_out = row_count;
  return closed + ran_out;
end;
$$;

revoke all on function vibepass.delete_ended_passes(timestamptz, bigint) from public, anon, authenticated, service_role;

/*
 * -------------------------------------------------------
 * Who is calling
 * -------------------------------------------------------
 */

/**
 * vibepass.caller(): the signed-in caller's user id. Every privileged function starts with it.
 *   * 42501 'not signed in' when the request names no user (anon key, service role key, no
 *     JWT), or one that no longer exists or that Supabase Auth soft-deleted (deleted_at): a
 *     token outlives its user, as it stays valid until exp.
 *   * 42501 'session ended' when the token's session_id names no row of auth.sessions:
 *     Supabase Auth refuses such a token after sign-out, but PostgREST trusts its signature
 *     until exp. A token with no session_id (a third-party provider's: Clerk, Firebase, Auth0,
 *     Cognito) is not checked against auth.sessions; it still needs its row in auth.users.
 * It reads the two claims auth.uid() reads, directly: auth.uid() is SQL with SET search_path,
 * which PostgreSQL 15 plans anew at every call. Two primary-key lookups.
 */
create function vibepass.caller()
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  claims jsonb := nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb;
  uid uuid := coalesce(
    nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), ''),
    claims ->> 'sub'
  )::uuid;
  sid uuid := (claims ->> 'session_id')::uuid;
begin
  if uid is null or not exists (select from auth.users u where u.id = uid and u.deleted_at is null) then
    raise exception 'not signed in' using errcode = '42501';
  end if;
  if sid is not null and not exists (select from auth.sessions a where a.id = sid and a.user_id = uid) then
    raise exception 'session ended' using errcode = '42501';
  end if;
  return uid;
end;
$$;

revoke all on function vibepass.caller() from public, anon, authenticated, service_role;

/*
 * -------------------------------------------------------
 * checkin(), session_status(), checkout()
 * -------------------------------------------------------
 * They must write or read public.sessions in ways the caller's grants do not allow, so they
 * run with more rights than the caller. Supabase's advisor (lints 0028/0029) flags every
 * SECURITY DEFINER function in an exposed schema that authenticated may execute, so the
 * privileged code lives in the private schema vibepass, and public holds a SECURITY INVOKER
 * function of each name that only calls its private twin. PostgREST exposes rpc/checkin,
 * rpc/session_status and rpc/checkout and nothing more: vibepass is not in the API's schemas,
 * and neither anon nor authenticated has USAGE on it.
 *
 * Why not SECURITY INVOKER with RLS and column grants instead: the caller would need INSERT
 * and UPDATE on public.sessions, and then the Data API would let them write any row the
 * policies allow (a year-long pass, a back-dated check-in, a second live pass) unless
 * triggers re-derived every column; the rule would live in two places.
 *
 * The bodies cost about what their bare statements cost (docs/performance.md, "The SQL
 * against its bare statements"): PL/pgSQL keeps its plans for the session, while a SQL helper
 * with SET search_path is planned at every call, so the time formats are written out where
 * they are used (ISO 8601 in UTC with whole seconds; minutes left rounded up, so a live pass
 * never shows 0 and a fresh 60-minute pass shows 60).
 */

/**
 * vibepass.checkin(): gives the caller a pass lasting vibepass.settings.pass_length (60 minutes
 * by default), or renews their live pass: same session_id, expires_at moved to now() +
 * pass_length. One insert makes the pass or renews the live one; only when it does neither
 * does the function find out why: the user was deleted (42501 'not signed in'), is anonymous
 * while settings.anonymous_users is 'refuse' (42501 'anonymous users may not check in'), or
 * their pass ran out but is still marked active (closed with end_reason 'expired', then
 * again). Safe under concurrency: simultaneous calls for one user all end on the same pass.
 *
 * Returns {"session_id": uuid, "expires_at": "2025-11-09T15:00:00Z", "expires_in_minutes": 60}.
 * Executable by authenticated. SECURITY DEFINER: the caller has no write rights on sessions.
 */
create function vibepass.checkin()
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
     where u.id = uid and not (u.is_anonymous and st.anonymous_users = 'refuse')
    on conflict (user_id) where status = 'active'
    do update set expires_at = excluded.expires_at, renewed_at = pg_catalog.now()
       -- A pass that has run out is not renewed: it is closed below and a new one made.
       where s.expires_at > pg_catalog.now()
    returning s.id, s.expires_at into sid, expires;

    exit when sid is not null;

    -- Why nothing was made: the user went (deleted since caller() looked), or is anonymous and
    -- refused, or their pass ran out but is still marked active (closed, then again).
    if not exists (select from auth.users u where u.id = uid) then
      raise exception 'not signed in' using errcode = '42501';
    end if;
    if exists (select from auth.users u cross join vibepass.settings st
                where u.id = uid and u.is_anonymous and st.anonymous_users = 'refuse') then
      raise exception 'anonymous users may not check in' using errcode = '42501';
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
 * vibepass.session_status(): the caller's live pass,
 * {"session_id": uuid, "checked_in_at": "...Z", "expires_at": "...Z", "minutes_remaining": 42},
 * or SQL NULL (JSON null through PostgREST) when they have none; one statement.
 * Executable by authenticated. SECURITY DEFINER for the same layout as the other two; it
 * reads only the caller's own rows, exactly what RLS lets them read.
 */
create function vibepass.session_status()
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
    from vibepass.live_passes s
   where s.user_id = uid;
  return pass;
end;
$$;

/**
 * vibepass.checkout(): ends the caller's live pass now (status 'inactive', end_reason
 * 'checkout') and returns {"session_id": uuid, "ended_at": "...Z"}, or SQL NULL (JSON null)
 * when the caller had no live pass: checking out twice is not an error; one statement.
 * Executable by authenticated. SECURITY DEFINER: the caller has no write rights on sessions.
 */
create function vibepass.checkout()
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
  update vibepass.live_passes s
     set status = 'inactive', ended_at = pg_catalog.now(), end_reason = 'checkout'
   where s.user_id = uid
  returning pg_catalog.json_build_object(
    'session_id', s.id,
    'ended_at', pg_catalog.to_char(s.ended_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
  into ended;
  return ended;
end;
$$;

revoke all on function vibepass.checkin(), vibepass.session_status(), vibepass.checkout()
  from public, anon, authenticated, service_role;
grant execute on function vibepass.checkin(), vibepass.session_status(), vibepass.checkout() to authenticated;

/*
 * The public wrappers, like every function in public, use a SQL-standard body (BEGIN
 * ATOMIC): Postgres resolves vibepass.checkin() once, when the wrapper is made, and stores
 * the reference, so calling it later checks only EXECUTE on the private function, not USAGE
 * on schema vibepass (the same way the profiles_display_name_plain CHECK calls
 * vibepass.plain_display_name). A body in a string would be parsed at each call as the
 * caller, and would need USAGE on vibepass for authenticated. The reference also makes
 * Postgres refuse to drop the private function while its wrapper exists.
 */

/**
 * public.checkin(): vibepass.checkin() as the caller: makes or renews the caller's pass and
 * returns {"session_id", "expires_at", "expires_in_minutes"}; 42501 without a signed-in user.
 */
create function public.checkin()
returns json
language sql
volatile
security invoker
set search_path = ''
begin atomic
  select vibepass.checkin();
end;

/**
 * public.session_status(): vibepass.session_status() as the caller: the caller's live pass,
 * or null; 42501 without a signed-in user. STABLE, so PostgREST also answers GET for it.
 */
create function public.session_status()
returns json
language sql
stable
security invoker
set search_path = ''
begin atomic
  select vibepass.session_status();
end;

/**
 * public.checkout(): vibepass.checkout() as the caller: ends the caller's live pass, or
 * returns null when there is none; 42501 without a signed-in user.
 */
create function public.checkout()
returns json
language sql
volatile
security invoker
set search_path = ''
begin atomic
  select vibepass.checkout();
end;

revoke all on function public.checkin(), public.session_status(), public.checkout()
  from public, anon, authenticated, service_role;
grant execute on function public.checkin(), public.session_status(), public.checkout() to authenticated;

/*
 * -------------------------------------------------------
 * Sign-out ends the pass
 * -------------------------------------------------------
 */

/**
 * vibepass.end_pass_at_sign_out(): trigger after a row of auth.sessions is deleted (Supabase
 * Auth's sign-out, global sign-out, or an ended session). When it was the user's last session,
 * their live pass ends now with end_reason 'signed_out', and the feed's trigger logs a 'leave'.
 * A user being deleted is left to the cascade, which removes their passes. SECURITY DEFINER:
 * Supabase Auth deletes as supabase_auth_admin, which may not touch public.sessions.
 */
create function vibepass.end_pass_at_sign_out()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not exists (select from auth.sessions a where a.user_id = old.user_id)
     and exists (select from auth.users u where u.id = old.user_id) then
    update vibepass.live_passes s
       set status = 'inactive', ended_at = pg_catalog.now(), end_reason = 'signed_out'
     where s.user_id = old.user_id;
  end if;
  return null;
end;
$$;

revoke all on function vibepass.end_pass_at_sign_out() from public, anon, authenticated, service_role;

create trigger on_auth_session_deleted_vibepass_pass
  after delete on auth.sessions
  for each row execute function vibepass.end_pass_at_sign_out();
