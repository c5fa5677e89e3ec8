-- Who may do what: RLS, table and function privileges for anon, two signed-in users and the
-- service role, with the exact errors PostgREST would pass on. Also the shape of the grants
-- themselves (RLS on, policies per role, anon can execute nothing; 05_advisor.sql has the
-- advisor's checks, search_path among them).
-- Each role is played through the helpers in helpers.psql, as PostgREST sets it up per request.
begin;
create extension if not exists pgtap with schema extensions;
\ir helpers.psql
select plan(60);

select tests.create_supabase_user('cat', 'cat@test.local');
select tests.create_supabase_user('dan', 'dan@test.local');
insert into public.sessions (user_id, expires_at) values
  (tests.get_supabase_uid('cat'), now() + interval '1 hour'),
  (tests.get_supabase_uid('dan'), now() + interval '1 hour');
insert into public.sessions (user_id, expires_at, status, ended_at, end_reason) values
  (tests.get_supabase_uid('dan'), now() - interval '1 hour', 'inactive', now() - interval '2 hours', 'checkout');

-- The grants as designed.
select ok((select relrowsecurity from pg_class where oid = 'public.sessions'::regclass), 'RLS is enabled on sessions');
select ok((select relrowsecurity from pg_class where oid = 'public.profiles'::regclass), 'RLS is enabled on profiles');
select policies_are('public', 'sessions', array['Users can read their own passes'], 'sessions has only the read-own policy');
select policy_roles_are('public', 'sessions', 'Users can read their own passes', array['authenticated'], 'the sessions policy is for authenticated');
select policies_are('public', 'profiles', array['Users can read their own profile', 'Users can update their own profile'],
  'profiles has the read-own and update-own policies');
select policy_roles_are('public', 'profiles', 'Users can update their own profile', array['authenticated'], 'the profile policies are for authenticated');
select is_empty(
  $$ select p.oid::regprocedure from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where n.nspname in ('public', 'vibepass') and has_function_privilege('anon', p.oid, 'execute') $$,
  'anon can execute no vibepass function'
);
select is_empty(
  $$ select p.oid::regprocedure from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where n.nspname in ('public', 'vibepass') and has_function_privilege('public', p.oid, 'execute') $$,
  'PUBLIC can execute no vibepass function'
);
select is_empty(
  $$ select r.rolname, priv from unnest(array['anon', 'authenticated', 'service_role']) r (rolname),
            unnest(array['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) priv
      where has_table_privilege(r.rolname, 'public.sessions', priv) $$,
  'no API role may insert, update, delete or truncate sessions'
);
select ok(not has_schema_privilege('anon', 'vibepass', 'usage') and not has_schema_privilege('authenticated', 'vibepass', 'usage')
  and not has_schema_privilege('service_role', 'vibepass', 'usage'),
  'no API role may use schema vibepass: the public functions reach it through their BEGIN ATOMIC bodies');
select set_eq(
  $$ select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where n.nspname = 'vibepass' and has_function_privilege('service_role', p.oid, 'execute') $$,
  array['vibepass.presence_tick()', 'vibepass.presence_changes(bigint,integer)', 'vibepass.presence_summary()'],
  'in schema vibepass, service_role may execute only the presence feed and summary behind their public wrappers'
);
select set_eq(
  $$ select c.oid::regclass::text from pg_class c
      where c.relnamespace = 'vibepass'::regnamespace and has_table_privilege('service_role', c.oid, 'select') $$,
  array['vibepass.live_passes'],
  'in schema vibepass, service_role may read only live_passes, which the model''s reads name'
);
select set_eq(
  $$ select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where n.nspname = 'public' and p.proname like 'presence%' and not p.prosecdef
        and has_function_privilege('service_role', p.oid, 'execute')
        and not has_function_privilege('authenticated', p.oid, 'execute') $$,
  array['presence_tick()', 'presence_changes(bigint,integer)', 'presence_summary()', 'presence_history()'],
  'the public presence functions are SECURITY INVOKER and for service_role only'
);

-- anon: nothing at all.
select tests.authenticate_as_anon();
select throws_ok('select public.checkin()', '42501', 'permission denied for function checkin', 'anon: checkin is denied');
select throws_ok('select public.session_status()', '42501', 'permission denied for function session_status', 'anon: session_status is denied');
select throws_ok('select public.checkout()', '42501', 'permission denied for function checkout', 'anon: checkout is denied');
select throws_ok('select * from public.active_users()', '42501', 'permission denied for function active_users', 'anon: active_users is denied');
select throws_ok('select public.presence_history()', '42501', 'permission denied for function presence_history', 'anon: presence_history is denied');
select throws_ok('select * from public.sessions', '42501', 'permission denied for table sessions', 'anon: cannot read sessions');
select throws_ok('select * from public.profiles', '42501', 'permission denied for table profiles', 'anon: cannot read profiles');
select throws_ok($$ insert into public.sessions (user_id, expires_at) values (tests.get_supabase_uid('cat'), now()) $$,
  '42501', 'permission denied for table sessions', 'anon: cannot insert sessions');
select throws_ok('select * from vibepass.active_sessions', '42501', 'permission denied for schema vibepass', 'anon: cannot read the monitoring view');
select throws_ok('select vibepass.purge_sessions()', '42501', 'permission denied for schema vibepass', 'anon: cannot purge');

-- Cat, signed in: her own rows only, and only through the functions for passes.
select tests.authenticate_as('cat');
select results_eq('select user_id from public.sessions', $$ values (tests.get_supabase_uid('cat')) $$,
  'Cat: sees only her own pass');
select results_eq('select id, display_name from public.profiles', $$ values (tests.get_supabase_uid('cat'), 'cat'::text) $$,
  'Cat: sees only her own profile');
select throws_ok('select * from public.active_users()', '42501', 'permission denied for function active_users',
  'Cat: cannot list active users');
select throws_ok('select public.presence_history()', '42501', 'permission denied for function presence_history',
  'Cat: cannot read the presence history');
select throws_ok($$ insert into public.sessions (user_id, expires_at) values (tests.get_supabase_uid('cat'), now() + interval '1 year') $$,
  '42501', 'permission denied for table sessions', 'Cat: cannot insert a pass directly');
select throws_ok($$ update public.sessions set expires_at = now() + interval '1 year' $$,
  '42501', 'permission denied for table sessions', 'Cat: cannot extend her pass directly');
select throws_ok('delete from public.sessions', '42501', 'permission denied for table sessions', 'Cat: cannot delete passes');
select throws_ok($$ update public.profiles set name = 'Someone Else' $$, '42501', 'permission denied for table profiles',
  'Cat: cannot change her profile''s name (only display_name and preferences)');
select throws_ok($$ update public.profiles set id = tests.get_supabase_uid('dan') $$, '42501', 'permission denied for table profiles',
  'Cat: cannot change her profile''s id');
select throws_ok($$ insert into public.profiles (id, display_name) values ('bbbbbbbb-0000-4000-8000-000000000003', 'x') $$,
  '42501', 'permission denied for table profiles', 'Cat: cannot insert profiles');
select throws_ok($$ delete from public.profiles $$, '42501', 'permission denied for table profiles', 'Cat: cannot delete her profile');
select lives_ok($$ update public.profiles set display_name = 'Kitty', preferences = '{0.1,0.2,0.3,0.4,0.5}' $$,
  'Cat: may update her display_name and preferences');
select is_empty($$ update public.profiles set display_name = 'Hacked' where id = tests.get_supabase_uid('dan') returning id $$,
  'Cat: updating Dan''s profile touches no row');
select throws_ok('select * from vibepass.settings', '42501', 'permission denied for schema vibepass', 'Cat: cannot read the settings');
select throws_ok($$ update vibepass.settings set pass_length = '1 year' $$, '42501', 'permission denied for schema vibepass',
  'Cat: cannot change the pass length');
select throws_ok('select * from vibepass.session_counts', '42501', 'permission denied for schema vibepass', 'Cat: cannot read the monitoring views');
select throws_ok($$ select vibepass.purge_sessions('0') $$, '42501', 'permission denied for schema vibepass', 'Cat: cannot purge');
select throws_ok('select vibepass.handle_new_user()', '42501', 'permission denied for schema vibepass', 'Cat: cannot call the private helpers');
select lives_ok('select public.checkin()', 'Cat: may check in');

-- Dan, signed in: his own rows only.
select tests.authenticate_as('dan');
select results_eq('select status from public.sessions order by expires_at', $$ values ('inactive'::text), ('active') $$,
  'Dan: sees his own two passes, not Cat''s');
select results_eq('select display_name from public.profiles', $$ values ('dan'::text) $$,
  'Dan: sees his own profile, untouched by Cat');
select is_empty($$ select * from public.sessions where user_id = tests.get_supabase_uid('cat') $$,
  'Dan: cannot read Cat''s pass even by asking for it');
select is((public.checkout()::jsonb ->> 'session_id')::uuid,
  (select id from public.sessions where status = 'active'),
  'Dan: checkout ends his own pass');

select tests.clear_authentication();
select results_eq(
  $$ select status from public.sessions where user_id = tests.get_supabase_uid('cat') $$,
  $$ values ('active'::text) $$,
  'Dan''s checkout left Cat''s pass alone'
);

-- service_role: the model's backend. Reads everything, writes nothing directly, acts for no user.
select tests.authenticate_as_service_role();
select results_eq(
  $$ select user_id, display_name from public.active_users() where user_id in (tests.get_supabase_uid('cat'), tests.get_supabase_uid('dan')) $$,
  $$ values (tests.get_supabase_uid('cat'), 'Kitty'::text) $$,
  'service_role: active_users lists Cat (Dan checked out)'
);
select is((select count(*) from public.sessions where user_id in (tests.get_supabase_uid('cat'), tests.get_supabase_uid('dan'))), 3::bigint,
  'service_role: reads every pass (RLS bypassed)');
select is(pg_catalog.json_array_length(public.presence_history()), 60,
  'service_role: presence_history has one point per minute of the last hour');
select is((public.presence_history() -> 59 ->> 'count')::bigint, (select count(*) from public.active_users()),
  'service_role: presence_history ends with the number present now');
select throws_ok('select public.checkin()', '42501', 'permission denied for function checkin', 'service_role: checkin is for users only');
select throws_ok('select public.session_status()', '42501', 'permission denied for function session_status', 'service_role: session_status is for users only');
select throws_ok('select public.checkout()', '42501', 'permission denied for function checkout', 'service_role: checkout is for users only');
select throws_ok($$ update public.sessions set expires_at = now() + interval '1 year' $$,
  '42501', 'permission denied for table sessions', 'service_role: cannot write passes directly');
select throws_ok($$ update public.profiles set display_name = 'x' $$,
  '42501', 'permission denied for table profiles', 'service_role: cannot write profiles');
select throws_ok('select * from vibepass.active_sessions', '42501', 'permission denied for schema vibepass', 'service_role: the monitoring views are for the operator');
select throws_ok('select vibepass.purge_sessions()', '42501', 'permission denied for schema vibepass', 'service_role: purge is for the operator');
select is(public.live_pass_count(), (select count(*) from public.active_users()),
  'service_role: live_pass_count counts the passes active_users lists');

-- authenticator itself (PostgREST's login role, before it switches) has no rights of its own.
select tests.clear_authentication();
select ok(not has_function_privilege('authenticator', 'public.checkin()', 'execute')
  and not has_table_privilege('authenticator', 'public.sessions', 'select'),
  'authenticator: no rights without switching role');

select * from finish();
rollback;
