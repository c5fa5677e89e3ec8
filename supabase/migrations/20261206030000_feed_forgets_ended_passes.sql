-- vibepass: the feed shows the model only people with a live pass, in a replay too (issue 21).
--
-- The presence log kept every join, renew and update for its replay window (a day), so a
-- follower resuming from an old cursor was sent the name and preferences of people who had
-- long left, or deleted their account. Now:
--   * When a pass ends (leave or expire), its join, renew and update rows are deleted in the
--     same transaction that logs the end: a replay shows only the end, with user_id and at. A
--     client that applies events as upserts and removals ends in the same state as before, as
--     the removal of a user it never had changes nothing.
--   * An account's deletion ends its live pass like a checkout (the cascade deletes it, and the
--     trigger logs a leave), so once the account is gone no row with its name or preferences is
--     left; its leave and expire rows keep only the user_id, which nothing resolves any more,
--     and the time. They stay because a follower that saw the join needs the end, and because
--     deleting the newest row would move the feed's head back.
--   * A profile change reaches the model only while the pass is live by the clock: before, a
--     change after the pass ran out but before a tick logged its expiry was sent as an update.
-- The rows of one pass are found through a new index on session_id.

create index presence_log_session on vibepass.presence_log (session_id);

/**
 * vibepass.presence_append(kind, user, session, at, with_row): as in
 * 20261206020000_model_rows_is_anonymous.sql; a leave or expire first deletes the pass's rows
 * that carry the user's row, so no replay shows them.
 */
create or replace function vibepass.presence_append(kind text, uid uuid, sid uuid, at timestamptz, with_row boolean)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  if kind in ('leave', 'expire') then
    delete from vibepass.presence_log l where l.session_id = sid and l.kind in ('join', 'renew', 'update');
  end if;
  if with_row then
    insert into vibepass.presence_log (seq, kind, user_id, session_id, at, display_name, checked_in_at, expires_at, preferences, is_anonymous)
    select pg_catalog.nextval('vibepass.presence_seq'), kind, uid, sid, at, p.display_name, s.checked_in_at, s.expires_at, p.preferences, p.is_anonymous
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
 * vibepass.presence_profile_changed(): as in 20261206020000_model_rows_is_anonymous.sql; only
 * a pass live by the clock as well as by the feed gets an update.
 */
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
  perform vibepass.presence_lock();
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

/**
 * vibepass.presence_tick(): as in 20261206000000_qualified_writes.sql; the passes it expires
 * lose their rows that carry the user's row, as presence_append does for one pass.
 */
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
