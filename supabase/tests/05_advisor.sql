-- What Supabase's database advisor (the splinter lints) checks, asserted in this project's own
-- SQL on the schemas vibepass owns: public, which the Data API exposes, and the private
-- vibepass (the checks on what the API exposes look at public alone). Each check is a function of the schemas it looks at. It runs on public and
-- vibepass, where it must find nothing, and on a bait schema holding one violation of each
-- kind next to a correct twin, where it must find exactly the violations: so every check is
-- shown, on every run, to be able to fail.
begin;
create extension if not exists pgtap with schema extensions;
\ir helpers.psql
select plan(19);

/**
 * tests.advisor_findings(schemas): what breaks the advisor's rules in schemas, as (rule,
 * object) rows; rule is one of
 *   exposed definer: a SECURITY DEFINER function that anon or authenticated may execute
 *     (lints 0028, 0029): through the Data API it runs with its owner's rights for anyone
 *     who can sign up, or for anyone at all;
 *   unpinned search_path: a function whose search_path is not pinned to '' (lint 0011 asks
 *     only that it be set; '' is this project's rule, with every name qualified);
 *   no rls: a table (plain or partitioned) with row level security off (lint 0013);
 *   owner view: a view not marked security_invoker, which reads its tables as its owner,
 *     so RLS would not apply to whoever queries it (lint 0010);
 *   per-row call: a policy clause calling auth.uid(), auth.jwt(), auth.role(), auth.email()
 *     or current_setting() other than wrapped as (select auth.uid()), which Postgres runs
 *     once per statement instead of once per row (lint 0003). Every wrapped call is cut out
 *     first, so one wrapped call cannot hide a bare one beside it;
 *   unindexed foreign key: a foreign key with no valid, non-partial index whose leading
 *     columns are its columns (lint 0001): deleting a referenced row (an auth.users delete
 *     cascading to sessions) then scans the whole table. A partial index misses the rows
 *     outside its predicate, so it does not count.
 */
create function tests.advisor_findings(schemas text[])
returns table (rule text, object text)
language sql
stable
set search_path = ''
as $$
  with fns as (
    select p.*, n.nspname || '.' || p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')' as name
      from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
     where n.nspname = any (schemas)
  ), rels as (
    select c.*, n.nspname || '.' || c.relname as name
      from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where n.nspname = any (schemas)
  )
  select 'exposed definer', f.name from fns f
   where f.prosecdef
     and (pg_catalog.has_function_privilege('anon', f.oid, 'execute')
       or pg_catalog.has_function_privilege('authenticated', f.oid, 'execute'))
  union all
  select 'unpinned search_path', f.name from fns f
   where not coalesce('search_path=""' = any (f.proconfig), false)
  union all
  select 'no rls', r.name from rels r
   where r.relkind in ('r', 'p') and not r.relrowsecurity
  union all
  select 'owner view', r.name from rels r
   where r.relkind = 'v'
     and not exists (
       select from pg_catalog.unnest(r.reloptions) o
        where pg_catalog.lower(o) in ('security_invoker=true', 'security_invoker=on', 'security_invoker=1', 'security_invoker=yes'))
  union all
  select 'per-row call', r.name || ': ' || p.polname || ' (' || clause.kind || ')'
    from pg_catalog.pg_policy p
    join rels r on r.oid = p.polrelid
   cross join lateral (values
     ('using', pg_catalog.pg_get_expr(p.polqual, p.polrelid)),
     ('with check', pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))
   ) clause (kind, expr)
   where pg_catalog.regexp_replace(clause.expr,
           '\( SELECT (auth\.(uid|jwt|role|email)\(\)|current_setting\([^()]*\)) AS [a-z_]+\)', '', 'g')
         ~ '(auth\.(uid|jwt|role|email)|current_setting)\('
  union all
  select 'unindexed foreign key', r.name || '.' || k.conname
    from pg_catalog.pg_constraint k
    join rels r on r.oid = k.conrelid
   where k.contype = 'f'
     and not exists (
       select from pg_catalog.pg_index i
        cross join lateral (select (pg_catalog.string_to_array(i.indkey::text, ' ')::smallint[])[1:pg_catalog.cardinality(k.conkey)] as cols) lead
        where i.indrelid = k.conrelid and i.indisvalid and i.indpred is null
          and lead.cols @> k.conkey and k.conkey @> lead.cols)
$$;

-- The bait: one violation of each kind, each next to a twin that is right.
create schema lint_bait;
create function lint_bait.definer_for_users() returns int language sql security definer set search_path = '' as $$ select 1 $$;
create function lint_bait.definer_for_anon() returns int language sql security definer set search_path = '' as $$ select 1 $$;
create function lint_bait.definer_for_service() returns int language sql security definer set search_path = '' as $$ select 1 $$;
create function lint_bait.invoker_for_users() returns int language sql set search_path = '' as $$ select 1 $$;
revoke all on all functions in schema lint_bait from public;
grant execute on function lint_bait.definer_for_users(), lint_bait.invoker_for_users() to authenticated;
grant execute on function lint_bait.definer_for_anon() to anon;
grant execute on function lint_bait.definer_for_service() to service_role;
create function lint_bait.search_path_unset() returns int language sql as $$ select 1 $$;
create function lint_bait.search_path_public() returns int language sql set search_path = public as $$ select 1 $$;
create table lint_bait.open (id int primary key);
create table lint_bait.guarded (id int primary key, owner uuid, claims jsonb);
alter table lint_bait.guarded enable row level security;
create policy bare_uid on lint_bait.guarded for select using (owner = auth.uid());
create policy wrapped_uid on lint_bait.guarded for update using (owner = (select auth.uid())) with check (owner = (select auth.uid()));
create policy bare_beside_wrapped on lint_bait.guarded for insert
  with check (owner = (select auth.uid()) and claims = auth.jwt());
create policy bare_setting on lint_bait.guarded for delete
  using (owner::text = current_setting('request.jwt.claim.sub', true));
create view lint_bait.owner_rights as select id from lint_bait.guarded;
create view lint_bait.caller_rights with (security_invoker = on) as select id from lint_bait.guarded;
create table lint_bait.child_partial (parent int references lint_bait.open, live boolean);
create index on lint_bait.child_partial (parent) where live;
create table lint_bait.child_indexed (parent int references lint_bait.open, at timestamptz);
create index on lint_bait.child_indexed (parent, at);
create table lint_bait.child_second_column (parent int references lint_bait.open, at timestamptz);
create index on lint_bait.child_second_column (at, parent);
alter table lint_bait.child_partial enable row level security;
alter table lint_bait.child_indexed enable row level security;
alter table lint_bait.child_second_column enable row level security;

-- Lints 0028/0029: the exposed schema runs nothing with its owner's rights for anon or users
-- (the private vibepass does, for authenticated: see the end of this file).
select is_empty($$ select object from tests.advisor_findings(array['public']) where rule = 'exposed definer' $$,
  'no SECURITY DEFINER function in public is executable by anon or authenticated');
select set_eq($$ select object from tests.advisor_findings(array['lint_bait']) where rule = 'exposed definer' $$,
  array['lint_bait.definer_for_users()', 'lint_bait.definer_for_anon()'],
  'the SECURITY DEFINER check finds functions anon or authenticated may execute');

-- Lint 0011.
select is_empty($$ select object from tests.advisor_findings(array['public', 'vibepass']) where rule = 'unpinned search_path' $$,
  'every function in public and vibepass pins search_path to empty');
select set_eq($$ select object from tests.advisor_findings(array['lint_bait']) where rule = 'unpinned search_path' $$,
  array['lint_bait.search_path_unset()', 'lint_bait.search_path_public()'],
  'the search_path check finds functions with none, or with a schema on it');

-- Lint 0013. vibepass's tables have none: no API role has any right on them.
select is_empty($$ select object from tests.advisor_findings(array['public']) where rule = 'no rls' $$,
  'every table in public has row level security on');
select set_eq($$ select object from tests.advisor_findings(array['lint_bait']) where rule = 'no rls' $$, array['lint_bait.open'],
  'the RLS check finds a table without it');

-- Lint 0010.
select is_empty($$ select object from tests.advisor_findings(array['public', 'vibepass']) where rule = 'owner view' $$,
  'every view in public and vibepass reads as its caller (security_invoker)');
select set_eq($$ select object from tests.advisor_findings(array['lint_bait']) where rule = 'owner view' $$, array['lint_bait.owner_rights'],
  'the view check finds a view that reads as its owner');

-- Lint 0003.
select is_empty($$ select object from tests.advisor_findings(array['public', 'vibepass']) where rule = 'per-row call' $$,
  'every policy in public and vibepass wraps auth.uid() in a select');
select set_eq($$ select object from tests.advisor_findings(array['lint_bait']) where rule = 'per-row call' $$,
  array['lint_bait.guarded: bare_uid (using)', 'lint_bait.guarded: bare_beside_wrapped (with check)',
        'lint_bait.guarded: bare_setting (using)'],
  'the policy check finds bare auth.uid(), auth.jwt() and current_setting() calls, also beside a wrapped one');

-- Lint 0001.
select is_empty($$ select object from tests.advisor_findings(array['public', 'vibepass']) where rule = 'unindexed foreign key' $$,
  'every foreign key in public and vibepass has an index that leads with its columns');
select set_eq($$ select object from tests.advisor_findings(array['lint_bait']) where rule = 'unindexed foreign key' $$,
  array['lint_bait.child_partial.child_partial_parent_fkey', 'lint_bait.child_second_column.child_second_column_parent_fkey'],
  'the foreign key check finds keys with only a partial index, or an index led by another column');

-- This project's own rule beside the advisor's: every function in public has a SQL-standard
-- body (BEGIN ATOMIC), which Postgres binds when it is made, so calling it needs no USAGE on
-- vibepass; a body in a string is parsed at every call, as the caller.
create function lint_bait.atomic_body() returns int language sql set search_path = '' begin atomic select 1; end;
select is_empty($$ select p.oid::regprocedure::text from pg_proc p where p.pronamespace = 'public'::regnamespace and p.prosqlbody is null $$,
  'every function in public has a SQL-standard body (BEGIN ATOMIC)');
select set_eq(
  $$ select p.oid::regprocedure::text from pg_proc p
      where p.pronamespace = 'lint_bait'::regnamespace and p.proname in ('atomic_body', 'invoker_for_users') and p.prosqlbody is null $$,
  array['lint_bait.invoker_for_users()'],
  'the body check finds a body in a string and passes a BEGIN ATOMIC one');

-- How the rule is kept: the privileged code is in vibepass, the users' part for
-- authenticated only and checking its caller, the presence feed's for service_role only;
-- public exposes exactly their SECURITY INVOKER entry points.
select set_eq(
  $$ select p.oid::regprocedure::text, r.rolname
       from pg_proc p cross join unnest(array['anon', 'authenticated', 'service_role']) r (rolname)
      where p.pronamespace in ('public'::regnamespace, 'vibepass'::regnamespace) and p.prosecdef
        and has_function_privilege(r.rolname, p.oid, 'execute') $$,
  $$ values ('vibepass.checkin()', 'authenticated'), ('vibepass.session_status()', 'authenticated'),
            ('vibepass.checkout()', 'authenticated'), ('vibepass.presence_summary()', 'service_role'),
            ('vibepass.presence_tick()', 'service_role'), ('vibepass.presence_changes(bigint,integer)', 'service_role') $$,
  'the only SECURITY DEFINER functions an API role may execute are vibepass''s checkin, session_status and checkout, for authenticated, and the presence feed and summary, for service_role'
);
select set_eq(
  $$ select p.proname::text, r.rolname
       from pg_proc p cross join unnest(array['anon', 'authenticated', 'service_role']) r (rolname)
      where p.pronamespace = 'public'::regnamespace and has_function_privilege(r.rolname, p.oid, 'execute') $$,
  $$ values ('checkin', 'authenticated'), ('session_status', 'authenticated'), ('checkout', 'authenticated'),
            ('active_users', 'service_role'), ('active_users_page', 'service_role'), ('presence_tick', 'service_role'),
            ('presence_changes', 'service_role'), ('presence_summary', 'service_role'), ('presence_history', 'service_role'),
            ('vibepass_ready', 'service_role'), ('live_pass_count', 'service_role') $$,
  'the Data API offers authenticated rpc/checkin, rpc/session_status and rpc/checkout, service_role the model''s list, the presence feed, readiness and the live-pass count, and nothing more'
);
select throws_ok('select vibepass.checkin()', '42501', 'not signed in',
  'the private checkin checks its caller: no user in the claims is refused, even for the superuser');
select tests.create_supabase_user('eve', 'eve@test.local');
select tests.authenticate_as('eve');
select throws_ok('select vibepass.checkin()', '42501', 'permission denied for schema vibepass',
  'a user cannot name the private checkin: authenticated has no USAGE on vibepass');
select is((public.checkin()::jsonb ->> 'expires_in_minutes')::int, 60,
  'a user checks in through public.checkin(), which reaches the private one without USAGE on vibepass');

select * from finish();
rollback;
