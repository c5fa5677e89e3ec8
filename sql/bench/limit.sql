-- The database's own limit for the user endpoints: a scratch table with only its primary
-- key, on which the bare statements (LimitCheckinSQL, LimitStatusSQL, LimitCheckoutSQL in
-- scripts.go) do what checkin(), session_status() and checkout() do, without their rules,
-- triggers, extra indexes or JSON. `vibepass bench` makes it, measures, and drops it
-- (DropLimit). It starts empty; FillLimit then gives every bench user a row, so that a bare
-- check-in renews, as checkin() does for a user with a live pass.
-- Run as the superuser; the bare statements run as authenticated, like the functions.

drop schema if exists vibepass_limit cascade;
create schema vibepass_limit;
create table vibepass_limit.passes (
  user_id uuid primary key,
  session_id uuid not null default pg_catalog.gen_random_uuid(),
  checked_in_at timestamptz not null default pg_catalog.now(),
  expires_at timestamptz not null
);
-- authenticator prepares the statements (pgx and pgbench parse them before the role
-- switch), authenticated runs them.
grant usage on schema vibepass_limit to authenticator, authenticated;
grant select, insert, update, delete on vibepass_limit.passes to authenticated;
