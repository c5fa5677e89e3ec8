/*
 * -------------------------------------------------------
 * Operator tools, in the private schema vibepass
 * -------------------------------------------------------
 * The two monitoring queries as views, and a retention function to schedule if old passes
 * should not stay forever. None of it is reachable by anon, authenticated or service_role;
 * run it as postgres (psql, the SQL editor, pg_cron). The knobs are vibepass.settings
 * (00_settings.sql).
 */

/*
 * vibepass.active_sessions: who is here right now, newest check-in first, with whole minutes
 * left (rounded, unlike the API's minutes, which round up).
 */
create view vibepass.active_sessions
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

/*
 * vibepass.session_counts: passes still marked active (total), split into the live ones
 * (active: vibepass.live_passes) and those that ran out (expired), which the user's next
 * check-in closes. One statement, so both counts come from one snapshot.
 */
create view vibepass.session_counts
with (security_invoker = true)
as
select l.active, t.total - l.active as expired, t.total
  from (select count(*) as active from vibepass.live_passes) l
 cross join (select count(*) as total from public.sessions where status = 'active') t;

revoke all on table vibepass.active_sessions, vibepass.session_counts
  from public, anon, authenticated, service_role;

/**
 * vibepass.purge_sessions(older_than): deletes passes that ended (checked out, signed out or
 * expired) more than older_than ago (default 30 days) and returns how many it deleted. Live
 * passes are never touched. Optional: expiry never depends on it. Schedule it with pg_cron, e.g.
 *   select cron.schedule('vibepass-purge', '17 3 * * *', $$select vibepass.purge_sessions()$$);
 * Errors: 22023 when older_than is null or negative.
 */
create function vibepass.purge_sessions(older_than interval default '30 days')
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  cutoff timestamptz;
  purged bigint;
begin
  if older_than is null or older_than < interval '0' then
    raise exception 'older_than must be a non-negative interval, got %', older_than
      using errcode = '22023';
  end if;
  cutoff := pg_catalog.now() - older_than;

  delete from public.sessions s
   where s.expires_at < cutoff
      or (s.status = 'inactive' and s.ended_at < cutoff);
  get diagnostics purged = row_count;
  return purged;
end;
$$;

revoke all on function vibepass.purge_sessions(interval) from public, anon, authenticated, service_role;
