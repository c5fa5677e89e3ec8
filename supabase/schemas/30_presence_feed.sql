/*
 * -------------------------------------------------------
 * The presence change feed
 * -------------------------------------------------------
 * Every change to who is present (join, renew, update, leave, expire) becomes one row of
 * vibepass.presence_log with a number, its cursor, so a client can list once and then follow
 * the changes from the list's cursor, resuming after a disconnect without missing or
 * repeating one.
 *
 * Why the numbers are drawn at commit: a sequence value or a timestamp is taken when a
 * transaction writes, not when it commits, so a reader that has seen number 11 committed could
 * later find number 10 commit and miss it. Here a deferred constraint trigger runs as the last
 * step before commit, takes one transaction-level advisory lock, and only then draws the
 * number. The lock has two modes:
 *   * Session writes (check-in, check-out, sign-out, purges: the trigger on public.sessions)
 *     take it shared (presence_lock_shared()), so they commit and flush side by side. Two
 *     writes of one pass still go one after the other, on the pass's row lock, and draw
 *     their numbers in that order.
 *   * Everything that reads or moves the cursor takes it exclusively
 *     (presence_lock_exclusive()): presence_tick(), presence_head(), presence_changes(),
 *     presence_summary(), and a profile change (whose 'update' event reads the user's pass,
 *     and whose pass must not change meanwhile).
 * Two session writes may draw n and n+1 and commit in the other order; what holds is that no
 * reader sees a number without every one below it: a reader holds the lock exclusively, so no
 * session write is between drawing its number and being visible, and only then takes the
 * snapshot it reads. A writer's trigger reads presence_clock.expired_through while no tick can
 * move it.
 *
 * Why expiry needs no writer: a pass runs out by the clock, with no row written. The feed's
 * reader calls presence_tick() (about once a second while anyone follows the feed, and before
 * each list), which under the lock logs an 'expire' for every pass whose expires_at has passed
 * since the last tick, at its expires_at. A writer that touches a pass a tick already expired
 * (a renewal racing the clock) logs a join instead of a renew, so the feed never renews or
 * ends a pass it has already expired.
 *
 * The feed shows only people with a live pass, in a replay too: when a pass ends (leave or
 * expire), its join, renew and update rows are deleted in the transaction that logs the end,
 * so a replay shows only the end, with user_id and at. An account's deletion ends its pass
 * like a checkout (the cascade deletes it, and the trigger logs a leave).
 *
 * Everything here is reachable only by service_role, through the public functions at the end
 * (SECURITY INVOKER wrappers of SECURITY DEFINER functions in the private schema).
 */

create sequence vibepass.presence_seq as bigint;
revoke all on sequence vibepass.presence_seq from public, anon, authenticated, service_role;

create table vibepass.presence_log (
  -- The cursor: drawn at commit, under the lock (gaps where a commit failed).
  seq bigint primary key,
  kind text not null check (kind in ('join', 'renew', 'update', 'leave', 'expire')),
  user_id uuid not null,
  session_id uuid not null,
  -- When it happened: the check-in time for join, the renewal for renew, the checkout for
  -- leave, the pass's expires_at for expire.
  at timestamptz not null,
  -- The row as the model's list shows it, for join, renew and update; null for leave and
  -- expire, and gone once the pass ended (its join, renew and update rows are deleted).
  display_name text,
  checked_in_at timestamptz,
  expires_at timestamptz,
  preferences double precision[],
  is_anonymous boolean
);
-- presence_tick()'s trim of entries older than feed_history.
create index presence_log_at on vibepass.presence_log (at);
-- The rows of one pass, deleted when it ends.
create index presence_log_session on vibepass.presence_log (session_id);
revoke all on table vibepass.presence_log from public, anon, authenticated, service_role;

comment on table vibepass.presence_log is
  'The presence change feed, in cursor order (no reader sees a number without every one below it); kept for vibepass.settings.feed_history.';

-- One row (singleton = true, inserted by the migrations).
create table vibepass.presence_clock (
  singleton boolean primary key default true check (singleton),
  -- Every pass that ran out at or before this time has its expire logged.
  expired_through timestamptz not null default pg_catalog.now(),
  -- The highest seq removed by retention: an older cursor gets a reset.
  purged_through bigint not null default 0,
  -- The summary as of the head: how many passes are announced, and the sums of their
  -- preferences, dimension by dimension (presence_tick() folds presence_count_changes in).
  present bigint not null default 0,
  preference_sums numeric[] not null default '{0,0,0,0,0}'
);
revoke all on table vibepass.presence_clock from public, anon, authenticated, service_role;

/*
 * The summary's totals, kept as the feed changes rather than counted at each read: counting
 * every live pass under the exclusive lock, once a second, held back every check-in while it
 * ran, and at 40,000 present users most of them waited on it (docs/performance.md).
 *   * vibepass.presence_counted holds, for each announced pass, the preferences it adds to the
 *     sums: those of its last join, renew or update. Its leave or expire takes away exactly
 *     these, whatever the profile says by then.
 *   * A session write may not update the totals' one row (every check-in would wait for the
 *     one before it to commit): under the shared lock it appends its changes to the sums to
 *     vibepass.presence_count_changes, and presence_tick(), under the exclusive lock, when no
 *     write is between its trigger and its commit, folds them all into presence_clock.
 * The sums are numeric: a pass's preferences are added and later taken away as the same
 * exact numbers, so no rounding accumulates over millions of passes.
 */
create table vibepass.presence_counted (
  session_id uuid primary key,
  preferences double precision[] not null
);
revoke all on table vibepass.presence_counted from public, anon, authenticated, service_role;

create table vibepass.presence_count_changes (
  change smallint not null check (change in (-1, 1)),
  preferences double precision[] not null
);
revoke all on table vibepass.presence_count_changes from public, anon, authenticated, service_role;

/**
 * vibepass.presence_lock_exclusive(): takes the presence lock exclusively, for whatever reads
 * or moves the cursor. Held until the transaction ends.
 */
create function vibepass.presence_lock_exclusive()
returns void
language sql
volatile
set search_path = ''
as $$
  select pg_catalog.pg_advisory_xact_lock(7622839204051130711)
$$;

/**
 * vibepass.presence_lock_shared(): takes the presence lock in shared mode, for session
 * writes. Held until the transaction ends.
 */
create function vibepass.presence_lock_shared()
returns void
language sql
volatile
set search_path = ''
as $$
  select pg_catalog.pg_advisory_xact_lock_shared(7622839204051130711)
$$;

/**
 * vibepass.presence_append(kind, user, session, at, with_row): logs one change with the next
 * number. with_row adds the user's row as the model's list shows it (profile as of now,
 * is_anonymous included). A leave or expire first deletes the pass's rows that carry the
 * user's row, so no replay shows them. The summary follows: a leave or expire takes the
 * pass's counted preferences away, a row with other preferences than those counted replaces
 * them. Callers hold the presence lock.
 */
create function vibepass.presence_append(kind text, uid uuid, sid uuid, at timestamptz, with_row boolean)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
  counted double precision[];
  shown double precision[];
begin
  if kind in ('leave', 'expire') then
    delete from vibepass.presence_log l where l.session_id = sid and l.kind in ('join', 'renew', 'update');
    delete from vibepass.presence_counted c where c.session_id = sid returning c.preferences into counted;
    if counted is not null then
      insert into vibepass.presence_count_changes (change, preferences) values (-1, counted);
    end if;
  end if;
  if with_row then
    insert into vibepass.presence_log (seq, kind, user_id, session_id, at, display_name, checked_in_at, expires_at, preferences, is_anonymous)
    select pg_catalog.nextval('vibepass.presence_seq'), kind, uid, sid, at, p.display_name, s.checked_in_at, s.expires_at, p.preferences, p.is_anonymous
      from public.sessions s
      join public.profiles p on p.id = s.user_id
     where s.id = sid
    returning preferences into shown;
    if shown is null then -- the pass was deleted in the transaction that made it: nothing to count
      return;
    end if;
    select c.preferences into counted from vibepass.presence_counted c where c.session_id = sid;
    if counted is null then
      insert into vibepass.presence_counted (session_id, preferences) values (sid, shown);
      insert into vibepass.presence_count_changes (change, preferences) values (1, shown);
    elsif counted is distinct from shown then
      update vibepass.presence_counted c set preferences = shown where c.session_id = sid;
      insert into vibepass.presence_count_changes (change, preferences) values (-1, counted), (1, shown);
    end if;
  else
    insert into vibepass.presence_log (seq, kind, user_id, session_id, at)
    values (pg_catalog.nextval('vibepass.presence_seq'), kind, uid, sid, at);
  end if;
end;
$$;

/**
 * vibepass.presence_session_changed(): deferred constraint trigger on public.sessions. At
 * commit, under the shared lock, it turns the row change into feed events. A pass counts as
 * announced (joined and neither left nor expired in the feed) while it is 'active' and its
 * expires_at is after presence_clock.expired_through.
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

create constraint trigger presence_session_changed
  after insert or update or delete on public.sessions
  deferrable initially deferred
  for each row execute function vibepass.presence_session_changed();

/**
 * vibepass.presence_profile_changed(): deferred constraint trigger on public.profiles: a
 * present user's new name, preferences or is_anonymous is an 'update' event with their row.
 * Only a pass live by the clock as well as by the feed gets one, so a change after the pass
 * ran out but before a tick logged its expiry is not sent.
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

create constraint trigger presence_profile_changed
  after update on public.profiles
  deferrable initially deferred
  for each row execute function vibepass.presence_profile_changed();

/**
 * vibepass.presence_head(): the cursor of the last change, or the retention floor when the log
 * is empty, read under the exclusive lock, after every session write in flight has committed.
 */
create function vibepass.presence_head()
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

/**
 * vibepass.presence_tick(): logs the expiries due since the last tick (and deletes those
 * passes' rows that carry the user's row and their counted preferences, as presence_append
 * does for one pass), folds the summary's changes into presence_clock, trims the log to
 * feed_history, deletes the passes that ended more than settings.pass_retention ago
 * (vibepass.delete_ended_passes), and returns {"cursor": <head>, "floor": <purged_through>}.
 * Cheap: an index range over the passes that ran out since the last tick, the summary's
 * changes since the last tick, at most 1,000 old log rows and at most 1,000 old passes. It
 * runs before every read of the list and the summary and at every poll of the feed, so a tick
 * with nothing to log, fold, trim or delete writes nothing: its transaction commits without a
 * WAL flush. The old passes are deleted after the expiries are logged, so each one's end is in
 * the feed already and the feed's trigger logs nothing for its deletion. The clock's update
 * names its row, as pg-safeupdate demands of every UPDATE an API request reaches.
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
  retention interval;
  purged bigint;
  expired bigint;
  folded bigint;
  present_change bigint;
  sums_change numeric[];
begin
  perform vibepass.presence_lock_exclusive();
  select * into strict clock from vibepass.presence_clock;
  select s.feed_history, s.pass_retention into strict history, retention from vibepass.settings s;
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
    with gone as (
      delete from vibepass.presence_counted c
       using public.sessions s
       where c.session_id = s.id
         and s.status = 'active' and s.expires_at > clock.expired_through and s.expires_at <= horizon
      returning c.preferences)
    insert into vibepass.presence_count_changes (change, preferences)
    select -1, g.preferences from gone g;
  end if;

  -- Every change to the sums, all committed: no session write is between its trigger and its
  -- commit while the lock is held exclusively.
  with changes as (
    delete from vibepass.presence_count_changes x where true
    returning x.change, x.preferences)
  select pg_catalog.count(*), pg_catalog.sum(x.change),
         array[pg_catalog.sum(x.change * x.preferences[1]::numeric), pg_catalog.sum(x.change * x.preferences[2]::numeric),
               pg_catalog.sum(x.change * x.preferences[3]::numeric), pg_catalog.sum(x.change * x.preferences[4]::numeric),
               pg_catalog.sum(x.change * x.preferences[5]::numeric)]
    into folded, present_change, sums_change
    from changes x;

  with gone as (
    delete from vibepass.presence_log l
     where l.seq in (select o.seq from vibepass.presence_log o where o.at < horizon - history order by o.seq limit 1000)
    returning l.seq)
  select max(g.seq) into purged from gone g;

  -- Only when a pass ran out, the sums changed or the log was trimmed: otherwise the tick
  -- writes nothing, and its transaction commits without a WAL flush
  -- (20261202180000_idle_tick_writes_nothing.sql).
  if expired > 0 or folded > 0 or purged is not null then
    update vibepass.presence_clock c
       set expired_through = horizon,
           purged_through = greatest(c.purged_through, coalesce(purged, 0)),
           present = c.present + coalesce(present_change, 0),
           preference_sums = case when folded = 0 then c.preference_sums
                                  else array[c.preference_sums[1] + sums_change[1], c.preference_sums[2] + sums_change[2],
                                             c.preference_sums[3] + sums_change[3], c.preference_sums[4] + sums_change[4],
                                             c.preference_sums[5] + sums_change[5]] end
     where c.singleton
    returning * into clock;
  end if;

  perform vibepass.delete_ended_passes(horizon - retention, 1000);

  return pg_catalog.json_build_object('cursor', vibepass.presence_head(), 'floor', clock.purged_through);
end;
$$;

/**
 * vibepass.presence_changes(after, max_rows): up to max_rows changes after cursor after, in
 * cursor order, read under the exclusive lock.
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

revoke all on function vibepass.presence_lock_exclusive(), vibepass.presence_lock_shared(),
  vibepass.presence_append(text, uuid, uuid, timestamptz, boolean),
  vibepass.presence_session_changed(), vibepass.presence_profile_changed(), vibepass.presence_head(),
  vibepass.presence_tick(), vibepass.presence_changes(bigint, integer)
  from public, anon, authenticated, service_role;

/*
 * -------------------------------------------------------
 * The service role's feed: public.presence_tick(), public.presence_changes()
 * -------------------------------------------------------
 * SECURITY INVOKER in public, with BEGIN ATOMIC bodies. In vibepass service_role may
 * execute only the DEFINER functions behind these two and behind public.presence_summary()
 * (40_model_reads.sql), and read only vibepass.live_passes (20_passes.sql).
 */
grant execute on function vibepass.presence_tick(), vibepass.presence_changes(bigint, integer) to service_role;

/**
 * public.presence_tick(): see vibepass.presence_tick(). The feed's poller and the list call it
 * first, so passes that ran out are in the log (and in the cursor) at once.
 */
create function public.presence_tick()
returns json
language sql
volatile
set search_path = ''
begin atomic
  select vibepass.presence_tick();
end;

/**
 * public.presence_changes(after, max_rows): the feed's changes after a cursor, in cursor
 * order, with is_anonymous for the rows of join, renew and update. PostgREST caps the rows at
 * its max_rows; callers page by the last seq.
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

revoke all on function public.presence_tick(), public.presence_changes(bigint, integer)
  from public, anon, authenticated, service_role;
grant execute on function public.presence_tick(), public.presence_changes(bigint, integer)
  to service_role;
