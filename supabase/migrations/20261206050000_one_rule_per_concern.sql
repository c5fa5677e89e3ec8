-- vibepass: one rule in one place (issue 22, §2). Nothing a client sees changes.
--
-- * The live-pass rule (status = 'active' and expires_at > now()) was written out in seven
--   definitions and once in the server's Go. It is now the view vibepass.live_passes, and
--   everything that needs live passes reads or ends them through it. A simple view is merged
--   into each query that names it, so the plans are those of the predicate written out (the
--   same indexes); a SQL function would be inlined only without SET search_path, which
--   Supabase's advisor flags (lint 0011). The server's gauge calls the new
--   public.live_pass_count() instead of holding its own copy of the rule.
-- * One style for the functions in public: a SQL-standard body (BEGIN ATOMIC), as checkin(),
--   session_status() and checkout() already had. Postgres binds what such a body names when
--   the function is made, so a call checks EXECUTE (or SELECT) on each object in vibepass and
--   never USAGE on the schema. The feed's functions and presence_summary() were bodies in
--   strings, parsed at every call as the caller, which is why service_role had USAGE on
--   vibepass; it has none now, like anon and authenticated. presence_summary()'s PL/pgSQL
--   moves, unchanged but for the view, to vibepass.presence_summary(), SECURITY DEFINER
--   like the feed's functions, behind a BEGIN ATOMIC wrapper: PL/pgSQL keeps its plan for
--   the session, where a two-statement SQL function is planned at every call (14-18 % more
--   CPU per call, measured on 10,000 live passes). service_role then no longer calls
--   presence_head() itself and loses EXECUTE on it.
--   The Supabase CLI splits migrations into statements itself and ends a BEGIN ATOMIC body
--   at the first "end" outside quotes and comments, so presence_history() quotes
--   "ended_at" and names its end column gone_at.
-- * The feed's lock functions say which mode they take: presence_lock() is now
--   presence_lock_exclusive(), presence_write_lock() presence_lock_shared(). ALTER FUNCTION
--   ... RENAME keeps them; the PL/pgSQL functions that call them by name are replaced.
-- * public.sessions' comment names every writer (sign-out, deletion and the purge were missing).
-- supabase/schemas has the same definitions, each with why.

create view vibepass.live_passes
with (security_invoker = true)
as
select s.id, s.user_id, s.checked_in_at, s.expires_at, s.status, s.created_at, s.ended_at, s.end_reason, s.renewed_at
  from public.sessions s
 where s.status = 'active' and s.expires_at > pg_catalog.now();

revoke all on table vibepass.live_passes from public, anon, authenticated, service_role;
grant select on table vibepass.live_passes to service_role;

comment on table public.sessions is 'Vibe passes; the live ones are vibepass.live_passes. No API role writes them: checkin(), checkout(), sign-out (a trigger on auth.sessions), an account''s deletion (cascade) and vibepass.purge_sessions() do.';

-- The user's own pass: read, ended, ended at sign-out, through the view.

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
    from vibepass.live_passes s
   where s.user_id = uid;
  return pass;
end;
$$;

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

create or replace function vibepass.end_pass_at_sign_out()
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

-- The feed's lock, named by its mode, and every function that takes it.

alter function vibepass.presence_lock() rename to presence_lock_exclusive;
alter function vibepass.presence_write_lock() rename to presence_lock_shared;

create or replace function vibepass.presence_session_changed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  horizon timestamptz;
  was_announced boolean;
begin
  perform vibepass.presence_lock_shared();
  select c.expired_through into strict horizon from vibepass.presence_clock c;
  was_announced := tg_op <> 'INSERT' and old.status = 'active' and old.expires_at > horizon;

  if tg_op = 'DELETE' then
    if was_announced then
      perform vibepass.presence_append('leave', old.user_id, old.id, pg_catalog.clock_timestamp(), false);
    end if;
    return null;
  end if;

  if new.status = 'active' then
    if was_announced then
      if new.expires_at is distinct from old.expires_at then
        perform vibepass.presence_append('renew', new.user_id, new.id, coalesce(new.renewed_at, pg_catalog.now()), true);
      end if;
    elsif tg_op = 'INSERT' or old.status = 'active' then
      perform vibepass.presence_append('join', new.user_id, new.id, coalesce(new.renewed_at, new.checked_in_at), true);
    end if;
    if new.expires_at <= horizon then -- already past the last tick: it will not see it
      perform vibepass.presence_append('expire', new.user_id, new.id, new.expires_at, false);
    end if;
  elsif was_announced then
    if new.end_reason = 'expired' then
      perform vibepass.presence_append('expire', new.user_id, new.id, old.expires_at, false);
    else
      perform vibepass.presence_append('leave', new.user_id, new.id, coalesce(new.ended_at, pg_catalog.now()), false);
    end if;
  end if;
  return null;
end;
$$;

create or replace function vibepass.presence_profile_changed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  sid uuid;
begin
  if new.display_name is not distinct from old.display_name and new.preferences is not distinct from old.preferences
     and new.is_anonymous is not distinct from old.is_anonymous then
    return null;
  end if;
  perform vibepass.presence_lock_exclusive();
  select s.id into sid
    from public.sessions s
   where s.user_id = new.id and s.status = 'active'
     and s.expires_at > greatest((select c.expired_through from vibepass.presence_clock c), pg_catalog.clock_timestamp());
  if sid is not null then
    perform vibepass.presence_append('update', new.id, sid, pg_catalog.clock_timestamp(), true);
  end if;
  return null;
end;
$$;

create or replace function vibepass.presence_head()
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform vibepass.presence_lock_exclusive();
  return coalesce((select max(l.seq) from vibepass.presence_log l),
                  (select c.purged_through from vibepass.presence_clock c));
end;
$$;

create or replace function vibepass.presence_tick()
returns json
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  clock vibepass.presence_clock;
  horizon timestamptz;
  history interval;
  purged bigint;
  expired bigint;
begin
  perform vibepass.presence_lock_exclusive();
  select * into strict clock from vibepass.presence_clock;
  select s.feed_history into strict history from vibepass.settings s;
  horizon := greatest(pg_catalog.clock_timestamp(), clock.expired_through);

  insert into vibepass.presence_log (seq, kind, user_id, session_id, at)
  select pg_catalog.nextval('vibepass.presence_seq'), 'expire', d.user_id, d.id, d.expires_at
    from (select s.user_id, s.id, s.expires_at
            from public.sessions s
           where s.status = 'active' and s.expires_at > clock.expired_through and s.expires_at <= horizon
           order by s.expires_at, s.id) d;
  get diagnostics expired = row_count;

  if expired > 0 then
    delete from vibepass.presence_log l
     using public.sessions s
     where l.session_id = s.id and l.kind in ('join', 'renew', 'update')
       and s.status = 'active' and s.expires_at > clock.expired_through and s.expires_at <= horizon;
  end if;

  with gone as (
    delete from vibepass.presence_log l
     where l.seq in (select o.seq from vibepass.presence_log o where o.at < horizon - history order by o.seq limit 1000)
    returning l.seq)
  select max(g.seq) into purged from gone g;

  -- Only when a pass ran out or the log was trimmed: otherwise the tick writes nothing, and its
  -- transaction commits without a WAL flush (20261202180000_idle_tick_writes_nothing.sql).
  if expired > 0 or purged is not null then
    update vibepass.presence_clock c
       set expired_through = horizon,
           purged_through = greatest(c.purged_through, coalesce(purged, 0))
     where c.singleton
    returning * into clock;
  end if;

  return pg_catalog.json_build_object('cursor', vibepass.presence_head(), 'floor', clock.purged_through);
end;
$$;

create or replace function vibepass.presence_changes(after bigint, max_rows integer)
returns table (
  seq bigint,
  kind text,
  user_id uuid,
  at timestamptz,
  display_name text,
  checked_in_at timestamptz,
  expires_at timestamptz,
  preferences double precision[],
  is_anonymous boolean
)
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform vibepass.presence_lock_exclusive();
  return query
    select l.seq, l.kind, l.user_id, l.at, l.display_name, l.checked_in_at, l.expires_at, l.preferences, l.is_anonymous
      from vibepass.presence_log l
     where l.seq > presence_changes.after
     order by l.seq
     limit greatest(presence_changes.max_rows, 0);
end;
$$;

-- The functions in public, each with a SQL-standard body.

create or replace function public.presence_tick()
returns json
language sql
volatile
set search_path = ''
begin atomic
  select vibepass.presence_tick();
end;

create or replace function public.presence_changes(after bigint, max_rows integer default 1000)
returns table (
  seq bigint,
  kind text,
  user_id uuid,
  at timestamptz,
  display_name text,
  checked_in_at timestamptz,
  expires_at timestamptz,
  preferences double precision[],
  is_anonymous boolean
)
language sql
stable
set search_path = ''
begin atomic
  select c.seq, c.kind, c.user_id, c.at, c.display_name, c.checked_in_at, c.expires_at, c.preferences, c.is_anonymous
    from vibepass.presence_changes(after, max_rows) c;
end;

create or replace function public.active_users()
returns table (
  user_id uuid,
  display_name text,
  checked_in_at timestamptz,
  expires_at timestamptz,
  preferences double precision[],
  is_anonymous boolean
)
language sql
stable
set search_path = ''
begin atomic
  select s.user_id, p.display_name, s.checked_in_at, s.expires_at, p.preferences, p.is_anonymous
    from vibepass.live_passes s
    join public.profiles p on p.id = s.user_id
   order by s.checked_in_at desc, s.user_id desc;
end;

create or replace function public.active_users_page(
  after_checked_in_at timestamptz default null,
  after_user_id uuid default null,
  page_size integer default 1000
)
returns table (
  user_id uuid,
  display_name text,
  checked_in_at timestamptz,
  expires_at timestamptz,
  preferences double precision[],
  is_anonymous boolean
)
language sql
stable
set search_path = ''
begin atomic
  select s.user_id, p.display_name, s.checked_in_at, s.expires_at, p.preferences, p.is_anonymous
    from vibepass.live_passes s
    join public.profiles p on p.id = s.user_id
   where after_checked_in_at is null
      or (s.checked_in_at, s.user_id) < (after_checked_in_at, after_user_id)
   order by s.checked_in_at desc, s.user_id desc
   limit page_size;
end;

create function vibepass.presence_summary()
returns json
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform vibepass.presence_head();
  return (
    select pg_catalog.json_build_object(
      'count', pg_catalog.count(*),
      'mean', case when pg_catalog.count(*) = 0 then null
                   else pg_catalog.json_build_array(pg_catalog.avg(p.preferences[1]), pg_catalog.avg(p.preferences[2]),
                          pg_catalog.avg(p.preferences[3]), pg_catalog.avg(p.preferences[4]), pg_catalog.avg(p.preferences[5])) end,
      'cursor', vibepass.presence_head())
      from vibepass.live_passes s
      join public.profiles p on p.id = s.user_id);
end;
$$;

create or replace function public.presence_summary()
returns json
language sql
volatile
set search_path = ''
begin atomic
  select vibepass.presence_summary();
end;

create or replace function public.presence_history()
returns json
language sql
stable
set search_path = ''
begin atomic
  with samples as (
    select least(m + interval '1 minute', pg_catalog.now()) as at
      from pg_catalog.generate_series(pg_catalog.date_trunc('minute', pg_catalog.now()) - interval '59 minutes',
                                      pg_catalog.date_trunc('minute', pg_catalog.now()), interval '1 minute') m
  ),
  -- Only passes that overlap the hour: a pass ends at or before its expires_at. ("ended_at"
  -- is quoted for the Supabase CLI: see 00_settings.sql.)
  recent as (
    select s.checked_in_at, coalesce(s."ended_at", s.expires_at) as gone_at
      from public.sessions s
     where s.expires_at > pg_catalog.date_trunc('minute', pg_catalog.now()) - interval '59 minutes'
       and s.checked_in_at <= pg_catalog.now()
  )
  select pg_catalog.json_agg(pg_catalog.json_build_object('at', c.at, 'count', c.n) order by c.at)
    from (select x.at, pg_catalog.count(r.checked_in_at) as n
            from samples x
            left join recent r on r.checked_in_at <= x.at and r.gone_at > x.at
           group by x.at) c;
end;

create function public.live_pass_count()
returns bigint
language sql
stable
set search_path = ''
begin atomic
  select pg_catalog.count(*) from vibepass.live_passes;
end;

create or replace function public.vibepass_ready()
returns json
language sql
stable
set search_path = ''
begin atomic
  select pg_catalog.to_json(
    pg_catalog.to_regprocedure('public.checkin()') is not null
    and pg_catalog.to_regprocedure('public.session_status()') is not null
    and pg_catalog.to_regprocedure('public.checkout()') is not null
    and pg_catalog.to_regprocedure('public.active_users()') is not null
    and pg_catalog.to_regprocedure('public.active_users_page(timestamptz, uuid, integer)') is not null
    and pg_catalog.to_regprocedure('public.presence_tick()') is not null
    and pg_catalog.to_regprocedure('public.presence_changes(bigint, integer)') is not null
    and pg_catalog.to_regprocedure('public.presence_summary()') is not null
    and pg_catalog.to_regprocedure('public.presence_history()') is not null
    and pg_catalog.to_regprocedure('public.live_pass_count()') is not null);
end;

-- The operator's views, through the one rule.

create or replace view vibepass.active_sessions
with (security_invoker = true)
as
select p.name,
       p.display_name,
       s.checked_in_at,
       s.expires_at,
       round(extract(epoch from (s.expires_at - pg_catalog.now())) / 60) as mins_left
  from vibepass.live_passes s
  join public.profiles p on p.id = s.user_id
 order by s.checked_in_at desc;

create or replace view vibepass.session_counts
with (security_invoker = true)
as
select l.active, t.total - l.active as expired, t.total
  from (select count(*) as active from vibepass.live_passes) l
 cross join (select count(*) as total from public.sessions where status = 'active') t;

-- Grants, restated for every function above that an API role may call, then USAGE on vibepass
-- revoked from the last API role that had it.
revoke all on function public.presence_tick(), public.presence_changes(bigint, integer), public.active_users(),
  public.active_users_page(timestamptz, uuid, integer), public.presence_summary(), public.presence_history(),
  public.live_pass_count(), public.vibepass_ready()
  from public, anon, authenticated, service_role;
grant execute on function public.presence_tick(), public.presence_changes(bigint, integer), public.active_users(),
  public.active_users_page(timestamptz, uuid, integer), public.presence_summary(), public.presence_history(),
  public.live_pass_count(), public.vibepass_ready()
  to service_role;
revoke all on function vibepass.session_status(), vibepass.checkout(), vibepass.end_pass_at_sign_out(),
  vibepass.presence_session_changed(), vibepass.presence_profile_changed(), vibepass.presence_head(),
  vibepass.presence_tick(), vibepass.presence_changes(bigint, integer), vibepass.presence_summary()
  from public, anon, authenticated, service_role;
grant execute on function vibepass.session_status(), vibepass.checkout() to authenticated;
grant execute on function vibepass.presence_tick(), vibepass.presence_changes(bigint, integer), vibepass.presence_summary()
  to service_role;
revoke all on table vibepass.active_sessions, vibepass.session_counts from public, anon, authenticated, service_role;
revoke usage on schema vibepass from service_role;
