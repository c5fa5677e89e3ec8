-- vibepass: check-ins and check-outs no longer wait for each other's commits (issue 14).
--
-- The feed's cursor is drawn at commit by a deferred trigger under one advisory lock
-- (20261202120000_presence_feed.sql). Taken exclusively by every writer, that lock was held
-- through each commit's WAL flush, so presence commits went one flush at a time: no group
-- commit, and at 8 clients a check-in waited 38-46 ms for the lock against 0.8 ms for its
-- own upsert (docs/performance.md). The lock now has two modes:
--
--   * Session writes (check-in, check-out, purges: the trigger on public.sessions) take it
--     shared, so they run and flush side by side. Two writes of one pass still go one after
--     the other, on the pass's row lock, and draw their numbers in that order.
--   * Everything that reads or moves the cursor takes it exclusively: presence_tick(),
--     presence_head(), presence_changes(), presence_summary(), and a profile change (whose
--     'update' event reads the user's pass, and whose pass must not change meanwhile).
--
-- Whoever sees number n still sees every number below it: a reader holds the lock
-- exclusively, so no session write is between drawing its number and being visible, and
-- only then takes the snapshot it reads (its reads are statements after the lock's). A
-- writer's trigger reads presence_clock.expired_through while no tick can move it.

/**
 * vibepass.presence_write_lock(): the presence lock in shared mode, for session writes.
 * Held until the transaction ends.
 */
create function vibepass.presence_write_lock()
returns void
language sql
volatile
set search_path = ''
as $$
  select pg_catalog.pg_advisory_xact_lock_shared(7622839204051130711)
$$;

revoke all on function vibepass.presence_write_lock() from public, anon, authenticated, service_role;

/**
 * vibepass.presence_session_changed(): as in 20261202120000_presence_feed.sql, under the
 * shared lock.
 */
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
  perform vibepass.presence_write_lock();
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

/**
 * vibepass.presence_head(): the cursor of the last change, or the retention floor when the log
 * is empty, read under the exclusive lock, after every session write in flight has committed.
 */
create or replace function vibepass.presence_head()
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform vibepass.presence_lock();
  return coalesce((select max(l.seq) from vibepass.presence_log l),
                  (select c.purged_through from vibepass.presence_clock c));
end;
$$;

/**
 * vibepass.presence_changes(after, max_rows): up to max_rows changes after cursor after, in
 * cursor order, read under the exclusive lock.
 */
create or replace function vibepass.presence_changes(after bigint, max_rows integer)
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
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform vibepass.presence_lock();
  return query
    select l.seq, l.kind, l.user_id, l.at, l.display_name, l.checked_in_at, l.expires_at, l.preferences
      from vibepass.presence_log l
     where l.seq > presence_changes.after
     order by l.seq
     limit greatest(presence_changes.max_rows, 0);
end;
$$;

/**
 * public.presence_summary(): as in 20261202120000_presence_feed.sql. The lock is taken in a
 * statement before the summary's, so that the count, the means and the cursor all come from a
 * snapshot taken with no session write in flight.
 */
create or replace function public.presence_summary()
returns json
language plpgsql
volatile
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
      from public.sessions s
      join public.profiles p on p.id = s.user_id
     where s.status = 'active' and s.expires_at > pg_catalog.now());
end;
$$;
