-- supabase_base.sql: makes a vanilla PostgreSQL (15 or later) look like a Supabase database,
-- as far as vibepass needs it: the API roles, the auth schema with auth.users and the JWT helper
-- functions, the extensions schema, and Supabase's default grants on schema public.
--
-- FOR LOCAL RUNS AND TESTS ONLY. Never run this on a real Supabase database: there all of this
-- exists already, owned by Supabase's own roles.
--
-- Idempotent: safe to run again on a database that has it. Run it as a superuser, before the
-- migrations in supabase/migrations, which must revoke the default grants made at the end.

-- The API roles, as Supabase creates them. PostgREST logs in as authenticator (LOGIN,
-- NOINHERIT) and switches, per request, to the role named by the JWT's role claim.
-- Local clusters use trust authentication, so no password is set.
do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
  if not pg_catalog.pg_has_role('authenticator', 'anon', 'member') then
    grant anon, authenticated, service_role to authenticator;
  end if;
end
$$;

-- Supabase's search path: unqualified extension functions (uuid_generate_v4(), pgTAP in the
-- tests) resolve through the extensions schema. Set per role, not per database, so databases
-- cloned from a template keep it: for postgres, the superuser running this (if another), and
-- authenticator. It applies from the next login.
do $$
declare
  r text;
begin
  for r in select rolname from pg_catalog.pg_roles
            where rolname in ('postgres', current_user, 'authenticator') loop
    execute pg_catalog.format('alter role %I set search_path = "$user", public, extensions', r);
  end loop;
end
$$;

-- Extensions live in their own schema, as on Supabase.
create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;
create extension if not exists "uuid-ossp" with schema extensions;
create extension if not exists pgcrypto with schema extensions;

-- The auth schema: Supabase Auth's users table (the columns a trigger, a seed and Supabase
-- Auth's own reads rely on) and the helpers that policies and functions call.
create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create table if not exists auth.users (
  instance_id uuid,
  id uuid not null primary key,
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  invited_at timestamptz,
  confirmation_token varchar(255),
  confirmation_sent_at timestamptz,
  recovery_token varchar(255),
  recovery_sent_at timestamptz,
  email_change_token_new varchar(255),
  email_change varchar(255),
  email_change_sent_at timestamptz,
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  phone text unique default null,
  phone_confirmed_at timestamptz,
  banned_until timestamptz,
  deleted_at timestamptz,
  is_anonymous boolean not null default false
);

create index if not exists users_email_idx on auth.users (email);

-- auth.uid(): the caller's user id, the JWT's sub claim (the older per-claim setting first,
-- as Supabase reads it). Settings read back as '' once set and reverted, hence nullif.
create or replace function auth.uid()
returns uuid
language sql stable
set search_path = ''
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

-- auth.role(): the JWT's role claim (anon, authenticated, service_role).
create or replace function auth.role()
returns text
language sql stable
set search_path = ''
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

-- auth.email(): the JWT's email claim.
create or replace function auth.email()
returns text
language sql stable
set search_path = ''
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;

-- auth.jwt(): every claim of the request's JWT.
create or replace function auth.jwt()
returns jsonb
language sql stable
set search_path = ''
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt()
  to anon, authenticated, service_role;

-- Supabase's default grants: the API roles may use schema public, and everything postgres
-- creates there is granted to them in full. This is what migrations must revoke.
grant usage on schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
