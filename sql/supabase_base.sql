-- supabase_base.sql: sets up a vanilla PostgreSQL (15 or later) as Supabase sets up a
-- project's database, as far as vibepass and its tests depend on it. Every statement restates
-- a fact of Supabase's own sources, named where it is used:
--
--   [pg]   supabase/postgres at 7db7e1a9e34b9ffb9b0e3372ccf08eb4fa772f4b, migrations/db/
--          (init-scripts/ run first, as postgres while it is still a superuser; migrations/
--          after, as supabase_admin; migrate.sh says so)
--   [auth] supabase/auth v2.196.0 at bc32168e13fdc928c98b449fc76bc3fdb9a293c5, migrations/
--          (Supabase Auth runs them itself, as supabase_auth_admin)
--
-- Where Supabase has since become stricter than those sources, this file follows the stricter
-- rule and says so (see docs/supabase.md, "The local database"). It makes no storage,
-- realtime, graphql, pgsodium or vault objects: vibepass uses none of them.
--
-- FOR LOCAL RUNS AND TESTS ONLY. Never run this on a real Supabase database: there all of this
-- exists already. Run it once per database, as the bootstrap superuser supabase_admin (initdb
-- -U supabase_admin), before the migrations, which then run as postgres. Roles are global to
-- the cluster, so every role statement is guarded and a second database reuses them.

-- The roles. [pg] init-scripts/00000000000000-initial-schema.sql makes the API roles and
-- authenticator; migrations/20230529180330_alter_api_roles_for_inherit.sql makes the API roles
-- INHERIT; 10000000000000_demote-postgres.sql leaves postgres with
-- NOSUPERUSER CREATEDB CREATEROLE LOGIN REPLICATION BYPASSRLS;
-- init-scripts/00000000000001-auth-schema.sql makes supabase_auth_admin.
-- Local clusters use trust authentication, so no password is set.
do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'postgres') then
    create role postgres;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'anon') then
    create role anon;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'authenticated') then
    create role authenticated;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'service_role') then
    create role service_role;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'authenticator') then
    create role authenticator;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'supabase_auth_admin') then
    create role supabase_auth_admin;
  end if;
end
$$;

alter role postgres nosuperuser createdb createrole login replication bypassrls;
alter role anon nologin inherit;
alter role authenticated nologin inherit;
alter role service_role nologin inherit bypassrls;
alter role authenticator login noinherit;
alter role supabase_auth_admin noinherit createrole login noreplication;

-- authenticator switches to the API roles per request ([pg] initial-schema; its supabase_admin
-- membership is revoked by migrations/20221103090837_revoke_admin.sql). postgres is a member of
-- the API roles (migrations/20230201083204_grant_auth_roles_to_postgres.sql) and of the
-- predefined monitoring and signalling roles (20230306081037_grant_pg_monitor_to_postgres.sql,
-- 20240606060239_grant_predefined_roles_to_postgres.sql).
-- Stricter than [pg]: 20220609081115 makes postgres a member of supabase_auth_admin, the owner
-- of auth's tables. Since 21 April 2025 (Supabase changelog 34270) a project may no longer
-- create tables or functions in auth, only triggers and policies on a few of its tables; here
-- postgres is no member and holds no CREATE on auth, and gets TRIGGER through its table grants.
grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;
grant pg_monitor, pg_read_all_data, pg_signal_backend to postgres;

-- Role settings. [pg] init-scripts/00000000000000-initial-schema.sql: anon 3 s and
-- authenticated 8 s statement timeouts. migrations/20221028101028_set_authenticator_timeout.sql
-- and 20231130133139_set_lock_timeout_to_authenticator_role.sql: authenticator 8 s for both.
-- migrations/20220118070449_enable-safeupdate-postgrest.sql preloads pg-safeupdate for every
-- authenticator session (20220224211803_fix-postgrest-supautils.sql adds supautils where the
-- image has it, which Supabase's own Docker image does not). Here the library is vibepass's
-- guard of the same name and behaviour (sql/safeupdate), which the local server finds through
-- its dynamic_library_path. init-scripts/00000000000003-post-setup.sql sets the search paths;
-- 00000000000001-auth-schema.sql supabase_auth_admin's.
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role authenticator set statement_timeout = '8s';
alter role authenticator set lock_timeout = '8s';
alter role authenticator set session_preload_libraries = 'safeupdate';
alter role postgres set search_path = "$user", public, extensions;
alter role supabase_admin set search_path = "$user", public, auth, extensions;
alter role supabase_auth_admin set search_path = auth;

-- What supautils lets postgres, its privileged_role, set although only a superuser could
-- ([pg] ansible/files/postgresql_config/supautils.conf.j2, privileged_role_allowed_configs), as
-- far as vibepass uses it: session_replication_role (the bench's bulk load skips per-row
-- triggers) and safeupdate.enabled. PostgreSQL 15's GRANT SET ON PARAMETER says the same.
grant set on parameter session_replication_role, "safeupdate.enabled" to postgres;

-- The project's database belongs to postgres ([pg] migrate.sh: "alter database postgres owner
-- to postgres"), and with it schema public (owned by pg_database_owner since PostgreSQL 15).
do $$
begin
  execute pg_catalog.format('alter database %I owner to postgres', pg_catalog.current_database());
end
$$;

-- Schema public: usage for the API roles ([pg] initial-schema). The default privileges that
-- granted everything postgres creates there to anon, authenticated and service_role are gone
-- for new objects since 30 October 2026 (Supabase changelog 45329): this base has none, and
-- sql/supabase_legacy_grants.sql restates them for the test that runs the migrations under the
-- old regime. PostgreSQL itself still grants EXECUTE on new functions to PUBLIC.
grant usage on schema public to anon, authenticated, service_role;

-- Extensions live in their own schema ([pg] initial-schema), which postgres may use fully
-- (10000000000000_demote-postgres.sql, 20230224042246_grant_extensions_perms_for_postgres.sql).
-- pgTAP and plpgsql_check are made here when the machine has them: on Supabase, postgres may
-- create them itself through supautils, which this base does not have, so the tests' and `supabase
-- db lint`'s `create extension if not exists` find them made.
create schema extensions;
create extension "uuid-ossp" with schema extensions;
create extension pgcrypto with schema extensions;
do $$
declare
  ext text;
begin
  foreach ext in array array['pgtap', 'plpgsql_check'] loop
    if exists (select from pg_catalog.pg_available_extensions where name = ext) then
      execute pg_catalog.format('create extension %I with schema extensions', ext);
    end if;
  end loop;
end
$$;
grant usage on schema extensions to anon, authenticated, service_role;
grant all on schema extensions to postgres;
grant all on all tables in schema extensions to postgres with grant option;
grant all on all routines in schema extensions to postgres with grant option;
grant all on all sequences in schema extensions to postgres with grant option;

-- Schema auth belongs to Supabase Auth's role ([auth] hack/init_postgres.sql: "create schema
-- auth authorization supabase_auth_admin"). The API roles may use it ([pg] init-scripts/
-- 00000000000001-auth-schema.sql). postgres may use it and gets every privilege on what
-- supabase_auth_admin makes there ([pg] migrations/20211115181400_update-auth-permissions.sql),
-- which lets a migration put triggers on auth's tables and the seed sign users up; stricter than
-- [pg]'s demote-postgres (GRANT ALL ON SCHEMA auth), postgres may not create in auth (changelog
-- 34270, above).
create schema auth authorization supabase_auth_admin;
grant usage on schema auth to anon, authenticated, service_role, postgres;
alter default privileges for role supabase_auth_admin in schema auth grant all on tables to postgres;
alter default privileges for role supabase_auth_admin in schema auth grant all on sequences to postgres;
alter default privileges for role supabase_auth_admin in schema auth grant all on routines to postgres;

-- What follows is made by supabase_auth_admin, as Supabase Auth's own migrations make it: the
-- tables and columns of auth.users, auth.sessions, auth.identities and auth.refresh_tokens as
-- they stand after every migration of [auth] v2.196.0 (each column's migration is named beside
-- it where it came later than the table), and the JWT helpers.
set role supabase_auth_admin;

-- [auth] 20221003041349_add_mfa_schema.up.sql.
create type auth.aal_level as enum ('aal1', 'aal2', 'aal3');

-- [auth] 00_init_auth_schema.up.sql, and the migrations named per column.
create table auth.users (
  instance_id uuid,
  id uuid not null primary key,
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,            -- 20210710035447_alter_users (was confirmed_at)
  invited_at timestamptz,
  confirmation_token varchar(255),
  confirmation_sent_at timestamptz,
  recovery_token varchar(255),
  recovery_sent_at timestamptz,
  email_change_token_new varchar(255),       -- 20210730183235_add_email_change_confirmed (renamed)
  email_change varchar(255),
  email_change_sent_at timestamptz,
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  created_at timestamptz,
  updated_at timestamptz,
  phone text unique default null,            -- 20210710035447_alter_users, text since 20230116124310_alter_phone_type
  phone_confirmed_at timestamptz,
  phone_change text default '',
  phone_change_token varchar(255) default '',
  phone_change_sent_at timestamptz,
  confirmed_at timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored, -- 20210722035447_adds_confirmed_at
  email_change_token_current varchar(255) default '', -- 20210730183235_add_email_change_confirmed
  email_change_confirm_status smallint default 0 check (email_change_confirm_status >= 0 and email_change_confirm_status <= 2),
  banned_until timestamptz,                  -- 20220114185340_add_banned_until
  reauthentication_token varchar(255) default '', -- 20220323170000_add_user_reauthentication
  reauthentication_sent_at timestamptz,
  is_sso_user boolean not null default false, -- 20221215195500_modify_users_email_unique_index
  deleted_at timestamptz,                    -- 20230116124412_add_deleted_at
  is_anonymous boolean not null default false -- 20240214120130_add_is_anonymous_column
);
create unique index users_email_partial_key on auth.users (email) where is_sso_user = false;
create index users_instance_id_idx on auth.users (instance_id);
create index users_instance_id_email_idx on auth.users (instance_id, lower(email));
create index users_is_anonymous_idx on auth.users (is_anonymous);

-- [auth] 20220811173540_add_sessions_table.up.sql and later columns. oauth_client_id refers to
-- auth.oauth_clients there (20250904133000); that table is not made here, so neither is the key.
create table auth.sessions (
  id uuid not null primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  created_at timestamptz,
  updated_at timestamptz,
  factor_id uuid,                            -- 20221003041400_add_aal_and_factor_id_to_sessions
  aal auth.aal_level,
  not_after timestamptz,                     -- 20221114143122_add_session_not_after_column
  refreshed_at timestamp,                    -- 20231027141322_add_session_refresh_columns (without time zone there)
  user_agent text,
  ip inet,
  tag text,                                  -- 20231114161723_add_sessions_tag
  oauth_client_id uuid,
  refresh_token_hmac_key text,               -- 20251007112900_add_session_refresh_token_columns
  refresh_token_counter bigint,
  scopes text check (char_length(scopes) <= 4096) -- 20251111201300_add_scopes_to_sessions
);
create index sessions_user_id_idx on auth.sessions (user_id);
create index user_id_created_at_idx on auth.sessions (user_id, created_at);
create index sessions_not_after_idx on auth.sessions (not_after desc);

-- [auth] 20210909172000_create_identities_table.up.sql, keyed by id since
-- 20231117164230_add_id_pkey_identities.up.sql.
create table auth.identities (
  provider_id text not null,
  user_id uuid not null references auth.users (id) on delete cascade,
  identity_data jsonb not null,
  provider text not null,
  last_sign_in_at timestamptz,
  created_at timestamptz,
  updated_at timestamptz,
  email text generated always as (lower(identity_data ->> 'email')) stored, -- 20221215195800_add_identities_email_column
  id uuid not null default gen_random_uuid() primary key,
  unique (provider_id, provider)
);
create index identities_user_id_idx on auth.identities (user_id);

-- [auth] 00_init_auth_schema.up.sql; session_id since 20220811173540_add_sessions_table.
create table auth.refresh_tokens (
  instance_id uuid,
  id bigserial primary key,
  token varchar(255) unique,
  user_id varchar(255),
  revoked boolean,
  created_at timestamptz,
  updated_at timestamptz,
  parent varchar(255),
  session_id uuid references auth.sessions (id) on delete cascade
);
create index refresh_tokens_session_id_revoked_idx on auth.refresh_tokens (session_id, revoked);

-- [auth] 20240612123726_enable_rls_update_grants.up.sql: row level security on, no policies.
alter table auth.users enable row level security;
alter table auth.sessions enable row level security;
alter table auth.identities enable row level security;
alter table auth.refresh_tokens enable row level security;

-- The JWT helpers, as [auth] 20220224000811_update_auth_functions.up.sql and
-- 20220531120530_add_auth_jwt_function.up.sql leave them: SQL, STABLE, SECURITY INVOKER, no
-- search_path of their own, EXECUTE left to PUBLIC. The older per-claim settings come first.
-- Settings read back as '' once set and reverted, hence nullif.
create function auth.uid() returns uuid language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create function auth.role() returns text language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

create function auth.email() returns text language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;

create function auth.jwt() returns jsonb language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

reset role;
