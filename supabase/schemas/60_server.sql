/*
 * -------------------------------------------------------
 * What the server asks for itself: readiness and the live-pass gauge
 * -------------------------------------------------------
 * Both for service_role only: the server asks with the model's credentials.
 */

/**
 * public.live_pass_count(): how many passes are live now (vibepass.live_passes), for the
 * server's vibepass_live_passes gauge. An index-only scan of idx_sessions_active; profiles
 * are not read.
 */
create function public.live_pass_count()
returns bigint
language sql
stable
set search_path = ''
begin atomic
  select pg_catalog.count(*) from vibepass.live_passes;
end;

revoke all on function public.live_pass_count() from public, anon, authenticated, service_role;
grant execute on function public.live_pass_count() to service_role;

/**
 * public.vibepass_ready(): true when every function the proxy calls exists, on either
 * upstream (the direct one calls active_users() and live_pass_count(), the PostgREST one
 * active_users_page()): one question for /readyz, the same on both upstreams.
 * to_regprocedure needs no privilege on the functions, so nothing runs. JSON, so both
 * upstreams read it as they read the other answers.
 */
create function public.vibepass_ready()
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

revoke all on function public.vibepass_ready() from public, anon, authenticated, service_role;
grant execute on function public.vibepass_ready() to service_role;
