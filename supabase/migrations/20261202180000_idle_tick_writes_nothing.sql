-- vibepass: a tick with nothing to log writes nothing (issue 14).
--
-- presence_tick() runs before every read of the list (and every 304) and at every poll of the
-- feed, under the feed's lock taken exclusively. It used to move presence_clock.expired_through
-- every time, so each tick was a write transaction: a WAL flush at commit, with the lock held
-- through it, holding up every check-in's commit meanwhile. Most ticks find nothing due.

/**
 * vibepass.presence_tick(): as in 20261202120000_presence_feed.sql, and writes only when a
 * pass ran out or the log was trimmed.
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

  with gone as (
    delete from vibepass.presence_log l
     where l.seq in (select o.seq from vibepass.presence_log o where o.at < horizon - history order by o.seq limit 1000)
    returning l.seq)
  select max(g.seq) into purged from gone g;

  -- Only when a pass ran out or the log was trimmed: otherwise the tick writes nothing, and its
  -- transaction commits without a WAL flush. expired_through then stays behind now, which
  -- changes nothing: no live pass has its expires_at between the two, and every pass made from
  -- now on ends after now.
  if expired > 0 or purged is not null then
    update vibepass.presence_clock c
       set expired_through = horizon,
           purged_through = greatest(c.purged_through, coalesce(purged, 0))
    returning * into clock;
  end if;

  return pg_catalog.json_build_object('cursor', vibepass.presence_head(), 'floor', clock.purged_through);
end;
$$;
