-- Profiles: made on sign-up by the trigger on auth.users, validated by the database whoever
-- writes them, and gone with their passes when the auth user is deleted.
-- Users are made and played through the helpers in helpers.psql.
begin;
create extension if not exists pgtap with schema extensions;
\ir helpers.psql
select plan(28);

-- Sign-ups, as Supabase Auth inserts them (with fresh random ids).
select tests.create_supabase_user('eve', 'eve.smith@test.local', metadata => '{}');
select tests.create_supabase_user('fay', 'fay@test.local', metadata => '{"full_name": "Fay Jones", "display_name": "  FayJ  "}');
select tests.create_supabase_user('gus', 'gus@test.local', metadata => '{"name": "Gus"}');
select tests.create_supabase_user('phone-only', phone => '+15550100', metadata => '{}');
select tests.create_supabase_user('hal', 'hal@test.local', metadata => jsonb_build_object('display_name', repeat('h', 100)));

select results_eq(
  $$ select id, name, display_name, preferences from public.profiles
      where id in (select tests.get_supabase_uid(u) from unnest(array['eve', 'fay', 'gus', 'phone-only', 'hal']) u) order by id $$,
  $$ select * from (values
     (tests.get_supabase_uid('eve'), null::text, 'eve.smith'::text, '{0.5,0.5,0.5,0.5,0.5}'::float8[]),
     (tests.get_supabase_uid('fay'), 'Fay Jones', 'FayJ', '{0.5,0.5,0.5,0.5,0.5}'),
     (tests.get_supabase_uid('gus'), 'Gus', 'Gus', '{0.5,0.5,0.5,0.5,0.5}'),
     (tests.get_supabase_uid('phone-only'), null, 'user-' || left(tests.get_supabase_uid('phone-only')::text, 8), '{0.5,0.5,0.5,0.5,0.5}'),
     (tests.get_supabase_uid('hal'), null, repeat('h', 64), '{0.5,0.5,0.5,0.5,0.5}')) v order by 1 $$,
  'sign-up makes a profile: display_name from metadata, else the email''s local part, else user-<id>; cut to 64'
);

-- A fresh sign-up can check in at once.
select tests.authenticate_as('eve');
select lives_ok('select public.checkin()', 'a fresh sign-up can check in at once');

-- Validation, as the user would hit it through the Data API.
select throws_ok($$ update public.profiles set preferences = '{0.1,0.2,0.3,0.4}' $$,
  '23514', 'new row for relation "profiles" violates check constraint "profiles_preferences_valid"', 'preferences: four numbers are refused');
select throws_ok($$ update public.profiles set preferences = '{0.1,0.2,0.3,0.4,0.5,0.6}' $$,
  '23514', 'new row for relation "profiles" violates check constraint "profiles_preferences_valid"', 'preferences: six numbers are refused');
select throws_ok($$ update public.profiles set preferences = '{0.1,0.2,null,0.4,0.5}' $$,
  '23514', 'new row for relation "profiles" violates check constraint "profiles_preferences_valid"', 'preferences: a null element is refused');
select throws_ok($$ update public.profiles set preferences = '{0.1,0.2,1.5,0.4,0.5}' $$,
  '23514', 'new row for relation "profiles" violates check constraint "profiles_preferences_valid"', 'preferences: above 1 is refused');
select throws_ok($$ update public.profiles set preferences = '{0.1,-0.2,0.3,0.4,0.5}' $$,
  '23514', 'new row for relation "profiles" violates check constraint "profiles_preferences_valid"', 'preferences: below 0 is refused');
select throws_ok($$ update public.profiles set preferences = '{0.1,NaN,0.3,0.4,0.5}' $$,
  '23514', 'new row for relation "profiles" violates check constraint "profiles_preferences_valid"', 'preferences: NaN is refused');
select throws_ok($$ update public.profiles set preferences = '{{0.1,0.2,0.3,0.4,0.5}}' $$,
  '23514', 'new row for relation "profiles" violates check constraint "profiles_preferences_valid"', 'preferences: a nested array is refused');
select throws_ok($$ update public.profiles set preferences = null $$,
  '23502', 'null value in column "preferences" of relation "profiles" violates not-null constraint', 'preferences: null is refused');
select throws_ok($$ update public.profiles set display_name = '' $$,
  '23514', 'new row for relation "profiles" violates check constraint "profiles_display_name_length"', 'display_name: empty is refused');
select throws_ok($$ update public.profiles set display_name = '   ' $$,
  '23514', 'new row for relation "profiles" violates check constraint "profiles_display_name_length"', 'display_name: blank is refused');
select throws_ok($$ update public.profiles set display_name = repeat('x', 65) $$,
  '23514', 'new row for relation "profiles" violates check constraint "profiles_display_name_length"', 'display_name: 65 characters are refused');
select throws_ok($$ update public.profiles set display_name = null $$,
  '23502', 'null value in column "display_name" of relation "profiles" violates not-null constraint', 'display_name: null is refused');
select lives_ok($$ update public.profiles set preferences = '{0,1,0.25,1.0,0.0}', display_name = repeat('e', 64) $$,
  'the edges are accepted: 0, 1 and 64 characters');

select tests.clear_authentication();
select results_eq(
  $$ select display_name, preferences, updated_at from public.profiles where id = tests.get_supabase_uid('eve') $$,
  $$ values (repeat('e', 64), '{0,1,0.25,1,0}'::float8[], now()) $$,
  'the accepted update is stored and stamps updated_at'
);

-- The superuser is held to the same rules.
select throws_ok($$ update public.profiles set preferences = '{2,2,2,2,2}' where id = tests.get_supabase_uid('fay') $$,
  '23514', 'new row for relation "profiles" violates check constraint "profiles_preferences_valid"', 'preferences: the CHECK binds the owner too');

-- Sessions must belong to a real user.
select throws_ok($$ insert into public.sessions (user_id, expires_at) values ('cccccccc-0000-4000-8000-0000000000ff', now()) $$,
  '23503', 'insert or update on table "sessions" violates foreign key constraint "sessions_user_id_fkey"', 'sessions: user_id must be an auth user');
select throws_ok($$ insert into public.sessions (user_id, expires_at, status) values (tests.get_supabase_uid('fay'), now(), 'paused') $$,
  '23514', 'new row for relation "sessions" violates check constraint "sessions_status_check"', 'sessions: status is active or inactive');
select throws_ok($$ insert into public.sessions (user_id, expires_at, status, end_reason) values (tests.get_supabase_uid('fay'), now(), 'active', 'checkout') $$,
  '23514', 'new row for relation "sessions" violates check constraint "sessions_ended_only_when_inactive"', 'sessions: an active pass has not ended');

-- Deleting the auth user removes the profile and every pass.
insert into public.sessions (user_id, expires_at, status, ended_at, end_reason)
values (tests.get_supabase_uid('eve'), now() - interval '1 day', 'inactive', now() - interval '1 day', 'expired');
select is((select count(*) from public.sessions where user_id = tests.get_supabase_uid('eve')), 2::bigint,
  'before deletion: the user has two passes');
delete from auth.users where id = tests.get_supabase_uid('eve');
select is_empty($$ select 1 from public.profiles where id = tests.get_supabase_uid('eve') $$, 'cascade: the profile is gone');
select is_empty($$ select 1 from public.sessions where user_id = tests.get_supabase_uid('eve') $$, 'cascade: the passes are gone');
select is((select count(*) from public.profiles
            where id in (select tests.get_supabase_uid(u) from unnest(array['eve', 'fay', 'gus', 'phone-only', 'hal']) u)),
  4::bigint, 'cascade: other users keep their profiles');

-- A token outlives its user (valid until exp): the deleted user is answered as no user, on
-- every call. (tests.authenticate_as still knows Eve: the helpers remember users apart from
-- auth.users.)
select tests.authenticate_as('eve');
select throws_ok($$ select public.checkin() $$, '42501', 'not signed in', 'checkin: a deleted user''s token is refused like no user');
select throws_ok($$ select public.session_status() $$, '42501', 'not signed in', 'session_status: a deleted user''s token is refused like no user');
select throws_ok($$ select public.checkout() $$, '42501', 'not signed in', 'checkout: a deleted user''s token is refused like no user');
select tests.clear_authentication();

-- The seed's example users are there with the spec's preferences (when the seed ran).
select ok(
  not exists (select 1 from public.profiles where id = '00000000-0000-4000-8000-000000000001')
  or exists (select 1 from public.profiles where id = '00000000-0000-4000-8000-000000000001'
             and display_name = 'MusicFan' and preferences = '{0.5,0.8,0.2,1.0,0.0}'),
  'seed: MusicFan, if seeded, has the spec''s preferences'
);

select * from finish();
rollback;
