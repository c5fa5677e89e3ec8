-- vibepass: a pass belongs to a signed-in Supabase Auth session (issue 20).
--
-- * Sign-out ends access. Supabase Auth refuses an access token whose session it deleted
--   (sign-out, global sign-out, an admin ending it) with session_not_found, but PostgREST
--   trusts a token's signature until exp: up to an hour more. vibepass.caller() now refuses a
--   token whose session_id names no row of auth.sessions (42501 'session ended'). A token
--   with no session_id (a third-party auth provider's: Clerk, Firebase, Auth0, Cognito) is
--   not checked against auth.sessions; it still needs a row in auth.users (below).
-- * Sign-out ends the pass. When a user's last row in auth.sessions goes, their live pass
--   ends at once (end_reason 'signed_out'), and the feed says 'leave'.
-- * Deleted accounts. caller() refuses a user with no row in auth.users, or one Supabase Auth
--   soft-deleted (deleted_at set), with 42501 'not signed in': check-in, status and checkout
--   alike (before, status and checkout answered a deleted account).
-- * Anonymous users (Supabase Auth's signInAnonymously: auth.users.is_anonymous) get passes
--   unless vibepass.settings.anonymous_users says 'refuse': then check-in answers 42501
--   'anonymous users may not check in'. Status and checkout keep working, so a pass made
--   before the setting changed can still be read and ended.

alter table vibepass.settings add column anonymous_users text not null default 'allow'
  check (anonymous_users in ('allow', 'refuse'));
comment on column vibepass.settings.anonymous_users is
  'allow: anonymous Supabase Auth users check in like others; refuse: their check-in gets 42501 "anonymous users may not check in".';

alter table public.sessions drop constraint sessions_end_reason_check;
alter table public.sessions add constraint sessions_end_reason_check
  check (end_reason in ('checkout', 'expired', 'signed_out'));

/**
 * vibepass.caller(): the signed-in caller's user id. 42501 'not signed in' when the request
 * names no user, or one that no longer exists or was soft-deleted; 42501 'session ended' when
 * the token names a Supabase Auth session that has ended. Two primary-key lookups.
 */
create or replace function vibepass.caller()
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  claims jsonb := nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb;
  uid uuid := coalesce(
    nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), ''),
    claims ->> 'sub'
  )::uuid;
  sid uuid := (claims ->> 'session_id')::uuid;
begin
  if uid is null or not exists (select from auth.users u where u.id = uid and u.deleted_at is null) then
    raise exception 'not signed in' using errcode = '42501';
  end if;
  if sid is not null and not exists (select from auth.sessions a where a.id = sid and a.user_id = uid) then
    raise exception 'session ended' using errcode = '42501';
  end if;
  return uid;
end;
$$;

/**
 * vibepass.checkin(): as in 20261202160000_fast_rpc.sql, and an anonymous user is refused
 * while vibepass.settings.anonymous_users is 'refuse'.
 */
create or replace function vibepass.checkin()
returns json
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  uid uuid := vibepass.caller();
  sid uuid;
  expires timestamptz;
begin
  loop
    insert into public.sessions as s (user_id, checked_in_at, expires_at)
    select u.id, pg_catalog.now(), pg_catalog.now() + st.pass_length
      from auth.users u cross join vibepass.settings st
     where u.id = uid and not (u.is_anonymous and st.anonymous_users = 'refuse')
    on conflict (user_id) where status = 'active'
    do update set expires_at = excluded.expires_at, renewed_at = pg_catalog.now()
       -- A pass that has run out is not renewed: it is closed below and a new one made.
       where s.expires_at > pg_catalog.now()
    returning s.id, s.expires_at into sid, expires;

    exit when sid is not null;

    -- Why nothing was made: the user went (deleted since caller() looked), or is anonymous and
    -- refused, or their pass ran out but is still marked active (closed, then again).
    if not exists (select from auth.users u where u.id = uid) then
      raise exception 'not signed in' using errcode = '42501';
    end if;
    if exists (select from auth.users u cross join vibepass.settings st
                where u.id = uid and u.is_anonymous and st.anonymous_users = 'refuse') then
      raise exception 'anonymous users may not check in' using errcode = '42501';
    end if;
    update public.sessions s
       set status = 'inactive', ended_at = s.expires_at, end_reason = 'expired'
     where s.user_id = uid and s.status = 'active' and s.expires_at <= pg_catalog.now();
  end loop;

  return pg_catalog.json_build_object(
    'session_id', sid,
    'expires_at', pg_catalog.to_char(expires at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'expires_in_minutes', pg_catalog.ceil(extract(epoch from (expires - pg_catalog.now())) / 60)::integer
  );
end;
$$;

/**
 * vibepass.end_pass_at_sign_out(): trigger after a row of auth.sessions is deleted (Supabase
 * Auth's sign-out, global sign-out, or an ended session). When it was the user's last session,
 * their live pass ends now with end_reason 'signed_out', and the feed's trigger logs a 'leave'.
 * A user being deleted is left to the cascade, which removes their passes. SECURITY DEFINER:
 * Supabase Auth deletes as supabase_auth_admin, which may not touch public.sessions.
 */
create function vibepass.end_pass_at_sign_out()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not exists (select from auth.sessions a where a.user_id = old.user_id)
     and exists (select from auth.users u where u.id = old.user_id) then
    update public.sessions s
       set status = 'inactive', ended_at = pg_catalog.now(), end_reason = 'signed_out'
     where s.user_id = old.user_id and s.status = 'active' and s.expires_at > pg_catalog.now();
  end if;
  return null;
end;
$$;

revoke all on function vibepass.end_pass_at_sign_out() from public, anon, authenticated, service_role;

create trigger on_auth_session_deleted_vibepass_pass
  after delete on auth.sessions
  for each row execute function vibepass.end_pass_at_sign_out();
