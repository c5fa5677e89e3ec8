/*
 * -------------------------------------------------------
 * Readiness: one question for /readyz, the same on both upstreams
 * -------------------------------------------------------
 */

/**
 * public.vibepass_ready(): true when every function the proxy calls exists, on either
 * upstream (the direct one calls active_users(), the PostgREST one active_users_page()).
 * to_regprocedure needs no privilege on the functions, so nothing runs. JSON, so both
 * upstreams read it as they read the other answers. service_role only: readiness uses the
 * model's credentials.
 */
create function public.vibepass_ready()
returns json
language sql
stable
set search_path = ''
as $$
  select pg_catalog.to_json(
    pg_catalog.to_regprocedure('public.checkin()') is not null
    and pg_catalog.to_regprocedure('public.session_status()') is not null
    and pg_catalog.to_regprocedure('public.checkout()') is not null
    and pg_catalog.to_regprocedure('public.active_users()') is not null
    and pg_catalog.to_regprocedure('public.active_users_page(timestamptz, uuid, integer)') is not null
    and pg_catalog.to_regprocedure('public.presence_tick()') is not null
    and pg_catalog.to_regprocedure('public.presence_changes(bigint, integer)') is not null
    and pg_catalog.to_regprocedure('public.presence_summary()') is not null
    and pg_catalog.to_regprocedure('public.presence_history()') is not null)
$$;

revoke all on function public.vibepass_ready() from public, anon, authenticated, service_role;
grant execute on function public.vibepass_ready() to service_role;
