/*
 * -------------------------------------------------------
 * Operator tools, in the private schema vibepass
 * -------------------------------------------------------
 * The two monitoring queries as views, and a purge of old passes for an operator who wants
 * them gone sooner than vibepass.settings.pass_retention (presence_tick() deletes them after
 * it, with no cron job). None of it is reachable by anon, authenticated or service_role; run
 * it as postgres (psql, the SQL editor). The knobs are vibepass.settings (00_settings.sql).
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
 * vibepass.purge_sessions(older_than): deletes every pass that ended (checked out, signed out
 * or expired) more than older_than ago (default 30 days) and returns how many it deleted,
 * through vibepass.delete_ended_passes(), the delete presence_tick() runs after
 * settings.pass_retention. Live passes are never touched, nor rows another transaction is
 * writing at that moment (a later tick gets them). Optional: presence_tick() keeps the table
 * bounded by itself; this is for purging sooner, e.g. select vibepass.purge_sessions('1 day');
 * Errors: 22023 when older_than is null or negative.
 */
create function vibepass.purge_sessions(older_than interval default '30 days')
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
begin
  if older_than is null or older_than < interval '0' then
    raise exception 'older_than must be a non-negative interval, got %', older_than
      using errcode = '22023';
  end if;
  return vibepass.delete_ended_passes(pg_catalog.now() - older_than, null);
end;
$$;

revoke all on function vibepass.purge_sessions(interval) from public, anon, authenticated, service_role;
