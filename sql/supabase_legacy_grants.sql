-- supabase_legacy_grants.sql: the default privileges Supabase projects had before 30 October
-- 2026 (projects made before 30 May 2026 keep them on what already exists): everything the
-- postgres role creates in schema public is granted in full to anon, authenticated and
-- service_role. supabase/postgres 7db7e1a9e34b9ffb9b0e3372ccf08eb4fa772f4b,
-- migrations/db/init-scripts/00000000000000-initial-schema.sql, which runs as postgres before
-- its demotion; Supabase changelog 45329 ends it for new objects.
--
-- FOR TESTS ONLY: applied as supabase_admin to a base database before the migrations, so a test
-- proves the migrations grant the same under both regimes.

alter default privileges for role postgres in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on sequences to anon, authenticated, service_role;
