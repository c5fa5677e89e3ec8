-- vibepass: every UPDATE and DELETE that an API role can reach names the rows it writes (issue 20).
--
-- Supabase preloads pg-safeupdate for authenticator, the role PostgREST and the direct upstream
-- log in as (supabase/postgres, migrations/db/migrations/20220118070449_enable-safeupdate-
-- postgrest.sql): an UPDATE or DELETE without a WHERE clause fails with SQLSTATE 21000, also
-- inside a SECURITY DEFINER function. presence_tick() moved the feed's clock with a bare
-- `update vibepass.presence_clock`, so once a pass had run out every tick failed, and with it
-- the model's list, the summary and the feed, until something ticked as another role.
-- The clock is one row, keyed by singleton = true: the update now says so.
-- supabase/safeupdate_test.go checks every function body in public and vibepass for an
-- unqualified UPDATE or DELETE, so none comes back.

/**
 * vibepass.presence_tick(): as in 20261202180000_idle_tick_writes_nothing.sql; the clock's
 * update names its row.
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
