-- The pass life cycle through the RPC functions, as real users: check-in, renewal, status,
-- expiry by timestamp alone, checkout, the one-live-pass constraint, the operator's pass length,
-- the model's list and retention.
-- Users act as PostgREST makes them: role authenticated plus the JWT claims of the request.
begin;
create extension if not exists pgtap with schema extensions;
select plan(45);

insert into auth.users (id, email) values
  ('aaaaaaaa-0000-4000-8000-000000000001', 'ann@test.local'),
  ('aaaaaaaa-0000-4000-8000-000000000002', 'ben@test.local');

-- Ann, signed in.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub":"aaaaaaaa-0000-4000-8000-000000000001","role":"authenticated"}', true);

select ok(public.session_status() is null, 'session_status: no pass yet is SQL NULL');
select ok(public.checkout() is null, 'checkout: no live pass returns SQL NULL, not an error');

select set_config('test.first', public.checkin()::text, true);

select is(
  (select array_agg(k order by k) from jsonb_object_keys(current_setting('test.first')::jsonb) k),
  array['expires_at', 'expires_in_minutes', 'session_id'],
  'checkin: returns session_id, expires_at and expires_in_minutes only'
);
select is((current_setting('test.first')::jsonb ->> 'expires_in_minutes')::int, 60,
  'checkin: a fresh pass lasts 60 minutes by default');
select matches(current_setting('test.first')::jsonb ->> 'expires_at', '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$',
  'checkin: expires_at is ISO 8601 UTC with Z and whole seconds');
select is((current_setting('test.first')::jsonb ->> 'expires_at')::timestamptz,
  date_trunc('second', now() + interval '60 minutes'),
  'checkin: expires_at is now() + 60 minutes on the database clock');

select set_config('test.status', public.session_status()::text, true);
select is(
  (select array_agg(k order by k) from jsonb_object_keys(current_setting('test.status')::jsonb) k),
  array['checked_in_at', 'expires_at', 'minutes_remaining', 'session_id'],
  'session_status: returns session_id, checked_in_at, expires_at and minutes_remaining only'
);
select is(current_setting('test.status')::jsonb ->> 'session_id', current_setting('test.first')::jsonb ->> 'session_id',
  'session_status: reports the pass checkin made');
select is((current_setting('test.status')::jsonb ->> 'minutes_remaining')::int, 60,
  'session_status: a fresh pass has 60 minutes remaining');
select is((current_setting('test.status')::jsonb ->> 'checked_in_at')::timestamptz, date_trunc('second', now()),
  'session_status: checked_in_at is the check-in time');
select is((select count(*) from public.sessions), 1::bigint, 'Ann sees her one pass');

-- Twenty minutes later (moved back by the superuser, since now() is fixed in a transaction)...
reset role;
update public.sessions set checked_in_at = now() - interval '20 minutes', expires_at = now() + interval '40 minutes'
 where user_id = 'aaaaaaaa-0000-4000-8000-000000000001';
set local role authenticated;

select is(
  (select (public.session_status()::jsonb ->> 'minutes_remaining')::int), 40,
  'session_status: minutes_remaining counts down'
);

-- ...Ann checks in again: the same pass is renewed.
select set_config('test.renewed', public.checkin()::text, true);
select is(current_setting('test.renewed')::jsonb ->> 'session_id', current_setting('test.first')::jsonb ->> 'session_id',
  'renew: a second check-in keeps the same session_id');
select is((current_setting('test.renewed')::jsonb ->> 'expires_at')::timestamptz,
  date_trunc('second', now() + interval '60 minutes'),
  'renew: expires_at moves to now() + 60 minutes (later than the 40 minutes left)');
select is((current_setting('test.renewed')::jsonb ->> 'expires_in_minutes')::int, 60,
  'renew: expires_in_minutes is back to 60');
select is((select count(*) from public.sessions), 1::bigint, 'renew: no second pass is stacked');

reset role;
select results_eq(
  $$ select checked_in_at, renewed_at, status from public.sessions where user_id = 'aaaaaaaa-0000-4000-8000-000000000001' $$,
  $$ values (now() - interval '20 minutes', now(), 'active'::text) $$,
  'renew: checked_in_at stays, renewed_at records the renewal'
);

-- Minutes are rounded up: 90 seconds left shows 2, one second left shows 1.
update public.sessions set expires_at = now() + interval '90 seconds' where user_id = 'aaaaaaaa-0000-4000-8000-000000000001';
set local role authenticated;
select is((public.session_status()::jsonb ->> 'minutes_remaining')::int, 2, 'minutes_remaining: 90 s left shows 2');
reset role;
update public.sessions set expires_at = now() + interval '1 second' where user_id = 'aaaaaaaa-0000-4000-8000-000000000001';
set local role authenticated;
select is((public.session_status()::jsonb ->> 'minutes_remaining')::int, 1, 'minutes_remaining: 1 s left shows 1, never 0');

-- The pass runs out: nothing runs, only the timestamp passes.
reset role;
update public.sessions set expires_at = now() - interval '1 second' where user_id = 'aaaaaaaa-0000-4000-8000-000000000001';
set local role authenticated;
select ok(public.session_status() is null, 'expiry: an expired pass is not reported by session_status');
select ok(public.checkout() is null, 'expiry: checkout finds no live pass');
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select is_empty($$ select * from public.active_users() where user_id = 'aaaaaaaa-0000-4000-8000-000000000001' $$,
  'expiry: active_users never lists an expired pass');
reset role;
select is_empty($$ select * from vibepass.active_sessions where display_name = 'ann' $$,
  'expiry: the monitoring view does not list it either');
select is((select status from public.sessions where user_id = 'aaaaaaaa-0000-4000-8000-000000000001'), 'active',
  'expiry: no cleanup ran, the row is still marked active');
select results_eq($$ select active, expired, total from vibepass.session_counts $$, $$ values (0::bigint, 1::bigint, 1::bigint) $$,
  'expiry: session_counts shows it as expired');

-- Checking in after expiry closes the old pass and makes a new one.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub":"aaaaaaaa-0000-4000-8000-000000000001","role":"authenticated"}', true);
select set_config('test.second', public.checkin()::text, true);
select isnt(current_setting('test.second')::jsonb ->> 'session_id', current_setting('test.first')::jsonb ->> 'session_id',
  'after expiry: check-in makes a new pass');
reset role;
select results_eq(
  $$ select status, end_reason, ended_at = expires_at from public.sessions where id = (current_setting('test.first')::jsonb ->> 'session_id')::uuid $$,
  $$ values ('inactive'::text, 'expired'::text, true) $$,
  'after expiry: the old pass is closed as expired at its expiry time'
);

-- One live pass per user, whatever writes the row.
select throws_ok(
  $$ insert into public.sessions (user_id, expires_at) values ('aaaaaaaa-0000-4000-8000-000000000001', now() + interval '1 hour') $$,
  '23505', 'duplicate key value violates unique constraint "sessions_one_active_per_user"',
  'one live pass: a second active row for a user is rejected'
);

-- Checkout ends the live pass at once.
set local role authenticated;
select set_config('test.checkout', public.checkout()::text, true);
select is(
  (select array_agg(k order by k) from jsonb_object_keys(current_setting('test.checkout')::jsonb) k),
  array['ended_at', 'session_id'],
  'checkout: returns session_id and ended_at only'
);
select is(current_setting('test.checkout')::jsonb ->> 'session_id', current_setting('test.second')::jsonb ->> 'session_id',
  'checkout: ends the live pass');
select is((current_setting('test.checkout')::jsonb ->> 'ended_at')::timestamptz, date_trunc('second', now()),
  'checkout: ended_at is now');
select ok(public.session_status() is null, 'checkout: no live pass afterwards');
select ok(public.checkout() is null, 'checkout: a second checkout returns SQL NULL');
reset role;
select results_eq(
  $$ select status, end_reason from public.sessions where id = (current_setting('test.second')::jsonb ->> 'session_id')::uuid $$,
  $$ values ('inactive'::text, 'checkout'::text) $$,
  'checkout: the pass is closed with end_reason checkout'
);

-- The operator's pass length, honoured by the next check-in.
update vibepass.settings set pass_length = '90 minutes';
set local role authenticated;
select set_config('request.jwt.claims', '{"sub":"aaaaaaaa-0000-4000-8000-000000000002","role":"authenticated"}', true);
select is((public.checkin()::jsonb ->> 'expires_in_minutes')::int, 90, 'pass_length: Ben''s pass lasts the configured 90 minutes');
select is((public.session_status()::jsonb ->> 'expires_at')::timestamptz, date_trunc('second', now() + interval '90 minutes'),
  'pass_length: expires_at is now() + 90 minutes');
set local role authenticated;
select set_config('request.jwt.claims', '{"sub":"aaaaaaaa-0000-4000-8000-000000000001","role":"authenticated"}', true);
select is((public.checkin()::jsonb ->> 'expires_in_minutes')::int, 90, 'pass_length: Ann''s new pass too');

-- A request without a user gets a clear error, not a pass for nobody.
select set_config('request.jwt.claims', '{"role":"authenticated"}', true);
select throws_ok('select public.checkin()', '42501', 'not signed in', 'checkin: no sub claim raises 42501 not signed in');
select throws_ok('select public.session_status()', '42501', 'not signed in', 'session_status: no sub claim raises 42501');
select throws_ok('select public.checkout()', '42501', 'not signed in', 'checkout: no sub claim raises 42501');

-- The model's list: everyone live, newest check-in first, with profile fields.
reset role;
update public.sessions set checked_in_at = now() - interval '5 minutes'
 where user_id = 'aaaaaaaa-0000-4000-8000-000000000002' and status = 'active';
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select results_eq(
  $$ select user_id, display_name, checked_in_at, expires_at, preferences from public.active_users()
      where user_id in ('aaaaaaaa-0000-4000-8000-000000000001', 'aaaaaaaa-0000-4000-8000-000000000002') $$,
  $$ values ('aaaaaaaa-0000-4000-8000-000000000001'::uuid, 'ann'::text, now(), now() + interval '90 minutes', '{0.5,0.5,0.5,0.5,0.5}'::float8[]),
            ('aaaaaaaa-0000-4000-8000-000000000002'::uuid, 'ben'::text, now() - interval '5 minutes', now() + interval '90 minutes', '{0.5,0.5,0.5,0.5,0.5}'::float8[]) $$,
  'active_users: live passes with profile fields, newest check-in first'
);

-- Retention: passes that ended more than 30 days ago go, everything else stays.
reset role;
insert into public.sessions (user_id, checked_in_at, expires_at, status, ended_at, end_reason) values
  ('aaaaaaaa-0000-4000-8000-000000000002', now() - interval '41 days', now() - interval '40 days', 'inactive', now() - interval '40 days 30 minutes', 'checkout'),
  ('aaaaaaaa-0000-4000-8000-000000000002', now() - interval '21 days', now() - interval '20 days', 'inactive', now() - interval '20 days', 'expired');
select is(vibepass.purge_sessions(), 1::bigint, 'purge_sessions: deletes only passes that ended over 30 days ago');
select is(vibepass.purge_sessions('10 days'), 1::bigint, 'purge_sessions: older_than is honoured');
select is((select count(*) from public.sessions where status = 'active' and user_id in
  ('aaaaaaaa-0000-4000-8000-000000000001', 'aaaaaaaa-0000-4000-8000-000000000002')), 2::bigint,
  'purge_sessions: live passes stay');
select throws_ok($$ select vibepass.purge_sessions('-1 day') $$, '22023',
  'older_than must be a non-negative interval, got -1 days', 'purge_sessions: a negative interval is refused');

select * from finish();
rollback;
