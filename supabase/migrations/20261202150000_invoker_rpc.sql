-- vibepass: the exposed schema holds no SECURITY DEFINER function, so Supabase's advisor
-- (lints 0028/0029, *_security_definer_function_executable) has nothing to warn about.
--
-- checkin(), session_status() and checkout() must write or read public.sessions in ways the
-- caller's grants do not allow (no API role may insert or update a pass: a user could PATCH
-- theirs to last a year), so they must run with more rights than the caller. Until now they
-- did so as SECURITY DEFINER functions in public, which PostgREST exposes as rpc/<name>; the
-- advisor flags every such function callable by authenticated, on every project's dashboard.
--
-- The choice: the three functions move, unchanged (same body, same SECURITY DEFINER, same
-- grant to authenticated alone), into the private schema vibepass, and public gets a
-- SECURITY INVOKER function of each name that only calls its private twin. PostgREST still
-- exposes rpc/checkin, rpc/session_status and rpc/checkout, with the same answers and errors,
-- and nothing more: vibepass is not in the API's schemas, and neither anon nor authenticated
-- has USAGE on it.
-- The privileged code still starts by checking its caller: vibepass.caller() raises 42501
-- "not signed in" unless the request's JWT names a user, and checkin() also refuses a user
-- who no longer exists.
--
-- Why not SECURITY INVOKER with RLS and column grants instead: the caller would need INSERT
-- and UPDATE on public.sessions, and then the Data API would let them write any row the
-- policies allow (a year-long pass, a back-dated check-in, a second live pass) unless
-- triggers re-derived every column; the rule would live in two places. Revoking EXECUTE is
-- no answer either: these three are the API.
--
-- The wrappers use a SQL-standard body (BEGIN ATOMIC): Postgres resolves vibepass.checkin()
-- once, when the wrapper is made, and stores the reference, so calling it later checks only
-- EXECUTE on the private function, not USAGE on schema vibepass (the same way the
-- profiles_display_name_plain CHECK calls vibepass.plain_display_name). A body in a string
-- would be parsed at each call as the caller, and would need USAGE on vibepass for
-- authenticated. The reference also makes Postgres refuse to drop the private function
-- while its wrapper exists.
--
-- ALTER FUNCTION ... SET SCHEMA keeps each function's body, attributes and grants, so
-- nothing is copied; the wrappers are new functions and get their grants below.

alter function public.checkin() set schema vibepass;
alter function public.session_status() set schema vibepass;
alter function public.checkout() set schema vibepass;

-- Restated, so this file alone says who may run the privileged code.
revoke all on function vibepass.checkin(), vibepass.session_status(), vibepass.checkout()
  from public, anon, authenticated, service_role;
grant execute on function vibepass.checkin(), vibepass.session_status(), vibepass.checkout() to authenticated;

/**
 * public.checkin(): vibepass.checkin() as the caller: makes or renews the caller's pass and
 * returns {"session_id", "expires_at", "expires_in_minutes"}; 42501 without a signed-in user.
 */
create function public.checkin()
returns json
language sql
volatile
security invoker
set search_path = ''
begin atomic
  select vibepass.checkin();
end;

/**
 * public.session_status(): vibepass.session_status() as the caller: the caller's live pass,
 * or null; 42501 without a signed-in user. STABLE, so PostgREST also answers GET for it.
 */
create function public.session_status()
returns json
language sql
stable
security invoker
set search_path = ''
begin atomic
  select vibepass.session_status();
end;

/**
 * public.checkout(): vibepass.checkout() as the caller: ends the caller's live pass, or
 * returns null when there is none; 42501 without a signed-in user.
 */
create function public.checkout()
returns json
language sql
volatile
security invoker
set search_path = ''
begin atomic
  select vibepass.checkout();
end;

-- Supabase's default privileges grant new functions in public to anon, authenticated and
-- service_role, and Postgres grants EXECUTE to PUBLIC: take all back, give authenticated
-- what it had.
revoke all on function public.checkin(), public.session_status(), public.checkout()
  from public, anon, authenticated, service_role;
grant execute on function public.checkin(), public.session_status(), public.checkout() to authenticated;
