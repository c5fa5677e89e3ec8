-- Loads the benchmark's population: vibepass_bench.users users in auth.users, their
-- profiles with random preferences, and vibepass_bench.passes_per_user finished passes
-- per user, one a day going back.
-- The caller sets both settings on the session first, e.g.
--   select set_config('vibepass_bench.users', '100000', false),
--          set_config('vibepass_bench.passes_per_user', '20', false);
-- Bench users are marked by their email domain, so a rerun on the same database
-- replaces them (the cascade removes their profiles and passes) and touches no one else.
-- One transaction: a failed load leaves the database as it was. Vacuum and analyze the
-- three tables afterwards (not allowed inside a transaction).

begin;
set local synchronous_commit = off;

delete from auth.users where email like '%@bench.vibepass.invalid';

-- Rows below are made valid here, so the per-row triggers are skipped (replica role):
-- the foreign key checks, and the sign-up trigger, whose profile (same display name
-- rule, vibepass.profile_display_name) is inserted in one statement with random
-- preferences instead of made and then updated row by row.
set local session_replication_role = replica;
set local work_mem = '256MB';

-- Ids are derived from the ordinal so that two loads of the same size make the same users.
insert into auth.users (id, aud, role, email, raw_user_meta_data, created_at)
select md5('vibepass-bench-' || i)::uuid, 'authenticated', 'authenticated',
       format('bench-%s@bench.vibepass.invalid', lpad(i::text, 7, '0')),
       jsonb_build_object('name', format('Bench User %s', i), 'display_name', format('Viber%s', i)),
       now() - interval '30 days'
from generate_series(1, current_setting('vibepass_bench.users')::int) as i;

-- Each user is signed in once, as Supabase Auth records a sign-in: their tokens name this
-- session, so every user call pays the session check it pays on Supabase.
insert into auth.sessions (id, user_id, created_at, updated_at, aal)
select md5('vibepass-bench-session-' || i)::uuid, md5('vibepass-bench-' || i)::uuid, now(), now(), 'aal1'
from generate_series(1, current_setting('vibepass_bench.users')::int) as i;

insert into public.profiles (id, name, display_name, preferences, created_at, updated_at)
select u.id, u.raw_user_meta_data ->> 'name', vibepass.profile_display_name(u.raw_user_meta_data, u.email, u.id),
       array[round(random()::numeric, 2), round(random()::numeric, 2), round(random()::numeric, 2),
             round(random()::numeric, 2), round(random()::numeric, 2)]::double precision[],
       u.created_at, u.created_at
from auth.users u
where u.email like '%@bench.vibepass.invalid';

-- Pass d of a user started d days ago at a random hour and ended within its hour:
-- a third by checkout, the rest by expiry. Ids ascend in insertion order so the
-- primary key grows at its right edge (random v4 ids made this insert 3x slower),
-- and rows come sorted by user for the user_id index.
insert into public.sessions (id, user_id, checked_in_at, expires_at, status, created_at, ended_at, end_reason)
select (lpad(to_hex(n), 8, '0') || '-be0c-4000-8000-000000000000')::uuid,
       user_id, started, started + interval '60 minutes', 'inactive', started,
       case when checked_out then started + random() * interval '59 minutes' else started + interval '60 minutes' end,
       case when checked_out then 'checkout' else 'expired' end
from (
    select row_number() over (order by u.id, d) as n,
           u.id as user_id,
           now() - d * interval '1 day' - random() * interval '22 hours' as started,
           random() < 0.33 as checked_out
    from auth.users u
    cross join generate_series(1, current_setting('vibepass_bench.passes_per_user')::int) as d
    where u.email like '%@bench.vibepass.invalid'
    order by u.id, d
) as history;

set local session_replication_role = origin;

commit;
