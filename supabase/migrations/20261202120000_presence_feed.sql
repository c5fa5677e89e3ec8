-- vibepass: the presence change feed. Every change to who is present (join, renew, update,
-- leave, expire) becomes one row of vibepass.presence_log, numbered in commit order, so a client
-- can list once and then follow the changes from the list's cursor, resuming after a disconnect
-- without missing or repeating one.
--
-- Why the numbers follow commit order: a sequence value or a timestamp is taken when a
-- transaction writes, not when it commits, so a reader that has seen number 11 committed can
-- later find number 10 commit and miss it. Here the number is taken at commit time instead: a
-- deferred constraint trigger runs as the last step before commit, takes one transaction-level
-- advisory lock, and only then draws the number. The lock is held until the commit is visible,
-- so the next writer draws its number only after this one can be read: whoever sees number n
-- sees every committed number below it. The price is that the commits of presence changes are
-- serialised (each waits for the previous one's WAL flush); a presence write is a few per user
-- per hour.
--
-- Why expiry needs no writer: a pass runs out by the clock, with no row written. The feed's
-- reader calls presence_tick() (about once a second while anyone follows the feed, and before
-- each list), which under the same lock logs an 'expire' for every pass whose expires_at has
-- passed since the last tick, at its expires_at. Once logged, an expire is replayed identically.
-- A writer that touches a pass a tick already expired (a renewal racing the clock) logs a join
-- instead of a renew, so the feed never renews or ends a pass it has already expired.
--
-- Everything here is reachable only by service_role, through the public functions at the end
-- (SECURITY INVOKER wrappers of SECURITY DEFINER functions in the private schema).

/*
 * The log and its clock.
 */
create sequence vibepass.presence_seq as bigint;
revoke all on sequence vibepass.presence_seq from public, anon, authenticated, service_role;

create table vibepass.presence_log (
  -- The cursor: drawn at commit, under the lock, so in commit order (gaps where a commit failed).
  seq bigint primary key,
  kind text not null check (kind in ('join', 'renew', 'update', 'leave', 'expire')),
  user_id uuid not null,
  session_id uuid not null,
  -- When it happened: the check-in time for join, the renewal for renew, the checkout for
  -- leave, the pass's expires_at for expire.
  at timestamptz not null,
  -- The row as the model's list shows it, for join, renew and update.
  display_name text,
  checked_in_at timestamptz,
  expires_at timestamptz,
  preferences double precision[]
);
create index presence_log_at on vibepass.presence_log (at);
revoke all on table vibepass.presence_log from public, anon, authenticated, service_role;

comment on table vibepass.presence_log is 'The presence change feed, in commit order; kept for vibepass.settings.feed_history.';

create table vibepass.presence_clock (
  singleton boolean primary key default true check (singleton),
  -- Every pass that ran out at or before this time has its expire logged.
  expired_through timestamptz not null default pg_catalog.now(),
  -- The highest seq removed by retention: an older cursor gets a reset.
  purged_through bigint not null default 0
);
insert into vibepass.presence_clock default values;
revoke all on table vibepass.presence_clock from public, anon, authenticated, service_role;

-- How long the log keeps changes; a client away longer lists again.
alter table vibepass.settings add column feed_history interval not null default '1 day'
  check (feed_history > interval '0');

/**
 * vibepass.presence_lock(): the lock that puts presence commits and ticks in one order. Held
 * until the transaction ends.
 */
create function vibepass.presence_lock()
returns void
language sql
volatile
set search_path = ''
as $$
  select pg_catalog.pg_advisory_xact_lock(7622839204051130711)
$$;

/**
 * vibepass.presence_append(kind, user, session, at, with_row): logs one change with the next
 * number. with_row adds the user's row as the model's list shows it (profile as of now).
 * Callers hold vibepass.presence_lock().
 */
create function vibepass.presence_append(kind text, uid uuid, sid uuid, at timestamptz, with_row boolean)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  if with_row then
    insert into vibepass.presence_log (seq, kind, user_id, session_id, at, display_name, checked_in_at, expires_at, preferences)
    select pg_catalog.nextval('vibepass.presence_seq'), kind, uid, sid, at, p.display_name, s.checked_in_at, s.expires_at, p.preferences
      from public.sessions s
      join public.profiles p on p.id = s.user_id
     where s.id = sid;
  else
    insert into vibepass.presence_log (seq, kind, user_id, session_id, at)
    values (pg_catalog.nextval('vibepass.presence_seq'), kind, uid, sid, at);
  end if;
end;
$$;

/**
 * vibepass.presence_session_changed(): deferred constraint trigger on public.sessions. At
 * commit, under the lock, it turns the row change into feed events. A pass counts as announced
 * (joined and neither left nor expired in the feed) while it is 'active' and its expires_at is
 * after presence_clock.expired_through.
 */
create function vibepass.presence_session_changed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  horizon timestamptz;
  was_announced boolean;
begin
  perform vibepass.presence_lock();
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

create constraint trigger presence_session_changed
  after insert or update or delete on public.sessions
  deferrable initially deferred
  for each row execute function vibepass.presence_session_changed();

/**
 * vibepass.presence_profile_changed(): deferred constraint trigger on public.profiles: a
 * present user's new name or preferences is an 'update' event with their row.
 */
create function vibepass.presence_profile_changed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  sid uuid;
begin
  if new.display_name is not distinct from old.display_name and new.preferences is not distinct from old.preferences then
    return null;
  end if;
  perform vibepass.presence_lock();
  select s.id into sid
    from public.sessions s
   where s.user_id = new.id and s.status = 'active'
     and s.expires_at > (select c.expired_through from vibepass.presence_clock c);
  if sid is not null then
    perform vibepass.presence_append('update', new.id, sid, pg_catalog.clock_timestamp(), true);
  end if;
  return null;
end;
$$;

create constraint trigger presence_profile_changed
  after update on public.profiles
  deferrable initially deferred
  for each row execute function vibepass.presence_profile_changed();

/**
 * vibepass.presence_head(): the cursor of the last change visible now, or the retention floor
 * when the log is empty.
 */
create function vibepass.presence_head()
returns bigint
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce((select max(l.seq) from vibepass.presence_log l),
                  (select c.purged_through from vibepass.presence_clock c))
$$;

/**
 * vibepass.presence_tick(): logs the expiries due since the last tick, trims the log to
 * feed_history, and returns {"cursor": <head>, "floor": <purged_through>}. Cheap: an index range
 * over the passes that ran out since the last tick and at most 1,000 old log rows.
 */
create function vibepass.presence_tick()
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
begin
  perform vibepass.presence_lock();
  select * into strict clock from vibepass.presence_clock;
  select s.feed_history into strict history from vibepass.settings s;
  horizon := greatest(pg_catalog.clock_timestamp(), clock.expired_through);

  insert into vibepass.presence_log (seq, kind, user_id, session_id, at)
  select pg_catalog.nextval('vibepass.presence_seq'), 'expire', d.user_id, d.id, d.expires_at
    from (select s.user_id, s.id, s.expires_at
            from public.sessions s
           where s.status = 'active' and s.expires_at > clock.expired_through and s.expires_at <= horizon
           order by s.expires_at, s.id) d;

  with gone as (
    delete from vibepass.presence_log l
     where l.seq in (select o.seq from vibepass.presence_log o where o.at < horizon - history order by o.seq limit 1000)
    returning l.seq)
  select max(g.seq) into purged from gone g;

  update vibepass.presence_clock c
     set expired_through = horizon,
         purged_through = greatest(c.purged_through, coalesce(purged, 0))
  returning * into clock;

  return pg_catalog.json_build_object('cursor', vibepass.presence_head(), 'floor', clock.purged_through);
end;
$$;

/**
 * vibepass.presence_changes(after, max_rows): up to max_rows changes after cursor after, in
 * commit order.
 */
create function vibepass.presence_changes(after bigint, max_rows integer)
returns table (
  seq bigint,
  kind text,
  user_id uuid,
  at timestamptz,
  display_name text,
  checked_in_at timestamptz,
  expires_at timestamptz,
  preferences double precision[]
)
language sql
stable
security definer
set search_path = ''
as $$
  select l.seq, l.kind, l.user_id, l.at, l.display_name, l.checked_in_at, l.expires_at, l.preferences
    from vibepass.presence_log l
   where l.seq > after
   order by l.seq
   limit greatest(max_rows, 0)
$$;

revoke all on function vibepass.presence_lock(), vibepass.presence_append(text, uuid, uuid, timestamptz, boolean),
  vibepass.presence_session_changed(), vibepass.presence_profile_changed(), vibepass.presence_head(),
  vibepass.presence_tick(), vibepass.presence_changes(bigint, integer)
  from public, anon, authenticated, service_role;

-- Passes live now were never announced: log their joins, so a cursor from now on is whole.
select vibepass.presence_lock();
insert into vibepass.presence_log (seq, kind, user_id, session_id, at, display_name, checked_in_at, expires_at, preferences)
select pg_catalog.nextval('vibepass.presence_seq'), 'join', d.user_id, d.id, d.checked_in_at, d.display_name, d.checked_in_at, d.expires_at, d.preferences
  from (select s.user_id, s.id, p.display_name, s.checked_in_at, s.expires_at, p.preferences
          from public.sessions s
          join public.profiles p on p.id = s.user_id
         where s.status = 'active' and s.expires_at > (select c.expired_through from vibepass.presence_clock c)
         order by s.checked_in_at, s.id) d;

/*
 * -------------------------------------------------------
 * The service role's API: public.presence_tick(), public.presence_changes(), public.presence_summary()
 * -------------------------------------------------------
 * SECURITY INVOKER in public; service_role may use schema vibepass only to call the three
 * DEFINER functions behind them, and may execute nothing else there.
 */
grant usage on schema vibepass to service_role;
grant execute on function vibepass.presence_head(), vibepass.presence_tick(), vibepass.presence_changes(bigint, integer)
  to service_role;

/**
 * public.presence_tick(): see vibepass.presence_tick(). The feed's poller and the list call it
 * first, so passes that ran out are in the log (and in the cursor) at once.
 */
create function public.presence_tick()
returns json
language sql
volatile
set search_path = ''
as $$
  select vibepass.presence_tick()
$$;

/**
 * public.presence_changes(after, max_rows): the feed's changes after a cursor, in commit
 * order. PostgREST caps the rows at its max_rows; callers page by the last seq.
 */
create function public.presence_changes(after bigint, max_rows integer default 1000)
returns table (
  seq bigint,
  kind text,
  user_id uuid,
  at timestamptz,
  display_name text,
  checked_in_at timestamptz,
  expires_at timestamptz,
  preferences double precision[]
)
language sql
stable
set search_path = ''
as $$
  select * from vibepass.presence_changes(after, max_rows)
$$;

/**
 * public.presence_summary(): {"count": N, "mean": [m1..m5] or null, "cursor": <head>} for the
 * passes public.active_users() lists, with the per-dimension mean of their preferences. One
 * statement, so the count, means and cursor come from one snapshot.
 */
create function public.presence_summary()
returns json
language sql
stable
set search_path = ''
as $$
  select pg_catalog.json_build_object(
    'count', pg_catalog.count(*),
    'mean', case when pg_catalog.count(*) = 0 then null
                 else pg_catalog.json_build_array(pg_catalog.avg(p.preferences[1]), pg_catalog.avg(p.preferences[2]),
                        pg_catalog.avg(p.preferences[3]), pg_catalog.avg(p.preferences[4]), pg_catalog.avg(p.preferences[5])) end,
    'cursor', vibepass.presence_head())
    from public.sessions s
    join public.profiles p on p.id = s.user_id
   where s.status = 'active' and s.expires_at > pg_catalog.now()
$$;

revoke all on function public.presence_tick(), public.presence_changes(bigint, integer), public.presence_summary()
  from public, anon, authenticated, service_role;
grant execute on function public.presence_tick(), public.presence_changes(bigint, integer), public.presence_summary()
  to service_role;
