-- vibepass's database as it is now: the declarative schema (config.toml, [db.migrations]
-- schema_paths). Read these files top to bottom; they apply in file-name order:
--
--   00_settings.sql        schema vibepass and the operator's knobs
--   10_profiles.sql        public.profiles, made by a trigger on sign-up; display-name rules
--   20_passes.sql          public.sessions and checkin() / session_status() / checkout()
--   30_presence_feed.sql   the presence change feed, numbered so no reader misses a change
--   40_model_reads.sql     what the music model reads: the list, its pages, summary, history
--   50_operator.sql        monitoring views and the purge of old passes, for postgres only
--   60_server.sql          what the server asks for itself: readiness and the live-pass gauge
--
-- The migrations (supabase/migrations) stay the deploy path: `supabase db push` applies them,
-- and they carry what a running project needs on the way (data fixes, backfills, renames).
-- These files are the readable current truth: one definition of every object, with what it
-- does and why. supabase/schema_test.go (TestSchemaFilesMatchMigrations) builds one database
-- from the migrations and one from these files and fails unless pg_dump shows the same
-- schema, owners and grants included. So a change is made twice: here, and in a new migration
-- (`supabase db diff -f <name>` can write that migration from these files).
--
-- What these files do not hold: rows. Declarative schema diffing ignores DML, so the two
-- singleton rows the functions read (vibepass.settings and vibepass.presence_clock) are
-- inserted by the migrations that make the tables (20261127000000_sessions.sql and
-- 20261202120000_presence_feed.sql), and so are the backfills of rows that existed before a
-- migration. A database made from these files alone has neither row: checkin() would find
-- no settings, and presence_tick() no clock.
--
-- Conventions, everywhere below:
--   * Supabase grants everything postgres makes in public to anon, authenticated and
--     service_role on projects made before 30 October 2026. So every object first has all
--     grants revoked from those roles and PUBLIC, then gets back exactly what is meant; the
--     result is the same under either default (TestMigrationsGrantTheSameUnderBothDefaultPrivileges).
--   * Every function pins search_path = '' and qualifies every name (pg_catalog included).
--   * Every UPDATE and DELETE an API request can reach has a WHERE (pg-safeupdate).
--   * Schema public is what the Data API exposes: it holds no SECURITY DEFINER function.
--     Privileged code lives in the private schema vibepass, behind SECURITY INVOKER wrappers.
--   * Every function in public has a SQL-standard body (BEGIN ATOMIC): Postgres binds the
--     names in it when the function is made, so a call checks EXECUTE or SELECT on what it
--     names in vibepass, never USAGE on the schema, which no API role has. Such a body holds
--     no bare word containing "end" but its last line: the Supabase CLI splits a migration
--     into statements itself and takes the first "end" outside quotes and comments after
--     BEGIN ATOMIC for the body's end (supabase/cli pkg/parser/state.go, AtomicState). So
--     no CASE, and a column such as ended_at is written quoted ("ended_at"). PL/pgSQL bodies,
--     in dollar quotes, are not affected.
--   * A function's body (between $$) is stored as written, so the comments inside it are
--     part of the definition, equal to the migrations' byte for byte.

/*
 * -------------------------------------------------------
 * Private schema vibepass: helpers, privileged code and operator settings
 * -------------------------------------------------------
 * Not exposed through the Data API, and no API role has USAGE on it: none can name
 * anything here. The functions in public reach what they call here through their
 * BEGIN ATOMIC bodies, which need only EXECUTE (or SELECT) on each object.
 */
create schema if not exists vibepass;
revoke all on schema vibepass from public, anon, authenticated, service_role;

/*
 * vibepass.settings: the operator's knobs, a single row (singleton = true, inserted by the
 * migrations). Clients can neither read nor change it. For example:
 *   update vibepass.settings set pass_length = '90 minutes' where singleton;
 *
 *   pass_length      how long a pass lasts from its check-in or last renewal
 *   feed_history     how long the presence log keeps changes; a client away longer lists again
 *   anonymous_users  'allow' or 'refuse' check-ins by Supabase Auth's anonymous users
 *   pass_retention   how long an ended pass stays in public.sessions; presence_tick() deletes
 *                    older ones (30_presence_feed.sql)
 *
 * pass_retention is at least one hour, the reach of presence_history() (40_model_reads.sql),
 * and at least feed_history, so every pass the feed can still replay (its leave or expire
 * names it by session_id) is still in public.sessions. To shorten feed_history and
 * pass_retention together, set both in one UPDATE: the check reads the row as it ends.
 */
create table vibepass.settings (
  singleton boolean primary key default true check (singleton),
  pass_length interval not null default '60 minutes' check (pass_length > interval '0'),
  feed_history interval not null default '1 day' check (feed_history > interval '0'),
  anonymous_users text not null default 'allow' check (anonymous_users in ('allow', 'refuse')),
  pass_retention interval not null default '30 days',
  constraint settings_pass_retention_check
    check (pass_retention >= greatest(feed_history, interval '1 hour'))
);
comment on column vibepass.settings.anonymous_users is
  'allow: anonymous Supabase Auth users check in like others; refuse: their check-in gets 42501 "anonymous users may not check in".';
comment on column vibepass.settings.pass_retention is
  'How long an ended pass stays in public.sessions: presence_tick() deletes older ones, up to 1,000 a tick. At least 1 hour (presence_history()) and at least feed_history.';
revoke all on table vibepass.settings from public, anon, authenticated, service_role;
