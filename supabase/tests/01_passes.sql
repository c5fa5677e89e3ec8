-- The pass life cycle through the RPC functions, as real users: check-in, renewal, status,
-- expiry by timestamp alone, checkout, the one-live-pass constraint, the operator's pass length,
-- the model's list and retention.
-- Users act as PostgREST makes them (tests.authenticate_as: role authenticated plus the JWT
-- claims of the request); tests.clear_authentication() goes back to the superuser to arrange
-- what no API role may, such as moving a pass's timestamps. See helpers.psql.
begin;
create extension if not exists pgtap with schema extensions;
\ir helpers.psql
select plan(45);

select tests.create_supabase_user('ann', 'ann@test.local');
select tests.create_supabase_user('ben', 'ben@test.local');

-- Ann, signed in.
select tests.authenticate_as('ann');

select ok(public.session_status() is null, 'session_status: no pass yet is SQL NULL');
select ok(public.checkout() is null, 'checkout: no live pass returns SQL NULL, not an error');

select tests.remember('first', public.checkin());

select is(
  (select array_agg(k order by k) from jsonb_object_keys(tests.recall('first')) k),
  array['expires_at', 'expires_in_minutes', 'session_id'],
  'checkin: returns session_id, expires_at and expires_in_minutes only'
);
select is((tests.recall('first') ->> 'expires_in_minutes')::int, 60,
  'checkin: a fresh pass lasts 60 minutes by default');
select matches(tests.recall('first') ->> 'expires_at', '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$',
  'checkin: expires_at is ISO 8601 UTC with Z and whole seconds');
select is((tests.recall('first') ->> 'expires_at')::timestamptz,
  date_trunc('second', now() + interval '60 minutes'),
  'checkin: expires_at is now() + 60 minutes on the database clock');

select tests.remember('status', public.session_status());
select is(
  (select array_agg(k order by k) from jsonb_object_keys(tests.recall('status')) k),
  array['checked_in_at', 'expires_at', 'minutes_remaining', 'session_id'],
  'session_status: returns session_id, checked_in_at, expires_at and minutes_remaining only'
);
select is(tests.recall('status') ->> 'session_id', tests.recall('first') ->> 'session_id',
  'session_status: reports the pass checkin made');
select is((tests.recall('status') ->> 'minutes_remaining')::int, 60,
  'session_status: a fresh pass has 60 minutes remaining');
select is((tests.recall('status') ->> 'checked_in_at')::timestamptz, date_trunc('second', now()),
  'session_status: checked_in_at is the check-in time');
select is((select count(*) from public.sessions), 1::bigint, 'Ann sees her one pass');

-- Twenty minutes later (moved back by the superuser, since now() is fixed in a transaction)...
select tests.clear_authentication();
update public.sessions set checked_in_at = now() - interval '20 minutes', expires_at = now() + interval '40 minutes'
 where user_id = tests.get_supabase_uid('ann');
select tests.authenticate_as('ann');

select is(
  (select (public.session_status()::jsonb ->> 'minutes_remaining')::int), 40,
  'session_status: minutes_remaining counts down'
);

-- ...Ann checks in again: the same pass is renewed.
select tests.remember('renewed', public.checkin());
select is(tests.recall('renewed') ->> 'session_id', tests.recall('first') ->> 'session_id',
  'renew: a second check-in keeps the same session_id');
select is((tests.recall('renewed') ->> 'expires_at')::timestamptz,
  date_trunc('second', now() + interval '60 minutes'),
  'renew: expires_at moves to now() + 60 minutes (later than the 40 minutes left)');
select is((tests.recall('renewed') ->> 'expires_in_minutes')::int, 60,
  'renew: expires_in_minutes is back to 60');
select is((select count(*) from public.sessions), 1::bigint, 'renew: no second pass is stacked');

select tests.clear_authentication();
select results_eq(
  $$ select checked_in_at, renewed_at, status from public.sessions where user_id = tests.get_supabase_uid('ann') $$,
  $$ values (now() - interval '20 minutes', now(), 'active'::text) $$,
  'renew: checked_in_at stays, renewed_at records the renewal'
);

-- Minutes are rounded up: 90 seconds left shows 2, one second left shows 1.
update public.sessions set expires_at = now() + interval '90 seconds' where user_id = tests.get_supabase_uid('ann');
select tests.authenticate_as('ann');
select is((public.session_status()::jsonb ->> 'minutes_remaining')::int, 2, 'minutes_remaining: 90 s left shows 2');
select tests.clear_authentication();
update public.sessions set expires_at = now() + interval '1 second' where user_id = tests.get_supabase_uid('ann');
select tests.authenticate_as('ann');
select is((public.session_status()::jsonb ->> 'minutes_remaining')::int, 1, 'minutes_remaining: 1 s left shows 1, never 0');

-- The pass runs out: nothing runs, only the timestamp passes.
select tests.clear_authentication();
update public.sessions set expires_at = now() - interval '1 second' where user_id = tests.get_supabase_uid('ann');
select tests.authenticate_as('ann');
select ok(public.session_status() is null, 'expiry: an expired pass is not reported by session_status');
select ok(public.checkout() is null, 'expiry: checkout finds no live pass');
select tests.authenticate_as_service_role();
select is_empty($$ select * from public.active_users() where user_id = tests.get_supabase_uid('ann') $$,
  'expiry: active_users never lists an expired pass');
select tests.clear_authentication();
select is_empty($$ select * from vibepass.active_sessions where display_name = 'ann' $$,
  'expiry: the monitoring view does not list it either');
select is((select status from public.sessions where user_id = tests.get_supabase_uid('ann')), 'active',
  'expiry: no cleanup ran, the row is still marked active');
select results_eq($$ select active, expired, total from vibepass.session_counts $$, $$ values (0::bigint, 1::bigint, 1::bigint) $$,
  'expiry: session_counts shows it as expired');

-- Checking in after expiry closes the old pass and makes a new one.
select tests.authenticate_as('ann');
select tests.remember('second', public.checkin());
select isnt(tests.recall('second') ->> 'session_id', tests.recall('first') ->> 'session_id',
  'after expiry: check-in makes a new pass');
select tests.clear_authentication();
select results_eq(
  $$ select status, end_reason, ended_at = expires_at from public.sessions where id = (tests.recall('first') ->> 'session_id')::uuid $$,
  $$ values ('inactive'::text, 'expired'::text, true) $$,
  'after expiry: the old pass is closed as expired at its expiry time'
);

-- One live pass per user, whatever writes the row.
select throws_ok(
  $$ insert into public.sessions (user_id, expires_at) values (tests.get_supabase_uid('ann'), now() + interval '1 hour') $$,
  '23505', 'duplicate key value violates unique constraint "sessions_one_active_per_user"',
  'one live pass: a second active row for a user is rejected'
);

-- Checkout ends the live pass at once.
select tests.authenticate_as('ann');
select tests.remember('checkout', public.checkout());
select is(
  (select array_agg(k order by k) from jsonb_object_keys(tests.recall('checkout')) k),
  array['ended_at', 'session_id'],
  'checkout: returns session_id and ended_at only'
);
select is(tests.recall('checkout') ->> 'session_id', tests.recall('second') ->> 'session_id',
  'checkout: ends the live pass');
select is((tests.recall('checkout') ->> 'ended_at')::timestamptz, date_trunc('second', now()),
  'checkout: ended_at is now');
select ok(public.session_status() is null, 'checkout: no live pass afterwards');
select ok(public.checkout() is null, 'checkout: a second checkout returns SQL NULL');
select tests.clear_authentication();
select results_eq(
  $$ select status, end_reason from public.sessions where id = (tests.recall('second') ->> 'session_id')::uuid $$,
  $$ values ('inactive'::text, 'checkout'::text) $$,
  'checkout: the pass is closed with end_reason checkout'
);

-- The operator's pass length, honoured by the next check-in.
update vibepass.settings set pass_length = '90 minutes';
select tests.authenticate_as('ben');
select is((public.checkin()::jsonb ->> 'expires_in_minutes')::int, 90, 'pass_length: Ben''s pass lasts the configured 90 minutes');
select is((public.session_status()::jsonb ->> 'expires_at')::timestamptz, date_trunc('second', now() + interval '90 minutes'),
  'pass_length: expires_at is now() + 90 minutes');
select tests.authenticate_as('ann');
select is((public.checkin()::jsonb ->> 'expires_in_minutes')::int, 90, 'pass_length: Ann''s new pass too');

-- A request without a user gets a clear error, not a pass for nobody: still role authenticated,
-- but claims without a sub (no helper: this is the one request no real client makes).
select set_config('request.jwt.claims', '{"role":"authenticated"}', true);
select throws_ok('select public.checkin()', '42501', 'not signed in', 'checkin: no sub claim raises 42501 not signed in');
select throws_ok('select public.session_status()', '42501', 'not signed in', 'session_status: no sub claim raises 42501');
select throws_ok('select public.checkout()', '42501', 'not signed in', 'checkout: no sub claim raises 42501');

-- The model's list: everyone live, newest check-in first, with profile fields.
select tests.clear_authentication();
update public.sessions set checked_in_at = now() - interval '5 minutes'
 where user_id = tests.get_supabase_uid('ben') and status = 'active';
select tests.authenticate_as_service_role();
select results_eq(
  $$ select user_id, display_name, checked_in_at, expires_at, preferences from public.active_users()
      where user_id in (tests.get_supabase_uid('ann'), tests.get_supabase_uid('ben')) $$,
  $$ values (tests.get_supabase_uid('ann'), 'ann'::text, now(), now() + interval '90 minutes', '{0.5,0.5,0.5,0.5,0.5}'::float8[]),
            (tests.get_supabase_uid('ben'), 'ben'::text, now() - interval '5 minutes', now() + interval '90 minutes', '{0.5,0.5,0.5,0.5,0.5}'::float8[]) $$,
  'active_users: live passes with profile fields, newest check-in first'
);

-- Retention: passes that ended more than 30 days ago go, everything else stays.
select tests.clear_authentication();
insert into public.sessions (user_id, checked_in_at, expires_at, status, ended_at, end_reason) values
  (tests.get_supabase_uid('ben'), now() - interval '41 days', now() - interval '40 days', 'inactive', now() - interval '40 days 30 minutes', 'checkout'),
  (tests.get_supabase_uid('ben'), now() - interval '21 days', now() - interval '20 days', 'inactive', now() - interval '20 days', 'expired');
select is(vibepass.purge_sessions(), 1::bigint, 'purge_sessions: deletes only passes that ended over 30 days ago');
select is(vibepass.purge_sessions('10 days'), 1::bigint, 'purge_sessions: older_than is honoured');
select is((select count(*) from public.sessions where status = 'active' and user_id in
  (tests.get_supabase_uid('ann'), tests.get_supabase_uid('ben'))), 2::bigint,
  'purge_sessions: live passes stay');
select throws_ok($$ select vibepass.purge_sessions('-1 day') $$, '22023',
  'older_than must be a non-negative interval, got -1 days', 'purge_sessions: a negative interval is refused');

select * from finish();
rollback;
