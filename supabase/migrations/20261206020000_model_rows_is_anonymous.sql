-- vibepass: the model's rows say whether their user signed in anonymously (issue 20).
--
-- Supabase Auth's anonymous sign-ins (signInAnonymously) make real users with
-- auth.users.is_anonymous = true; linking an identity later makes them permanent (false). The
-- model may weigh the two differently, so the list, the feed's rows and the summary's source
-- carry is_anonymous, additively. The model reads as service_role, which has no rights on
-- auth.users, so the flag is kept on the profile, copied by Supabase Auth's own writes through
-- two triggers on auth.users: the sign-up one, and one for the conversion. Users cannot write it
-- (authenticated may update only display_name and preferences).

alter table public.profiles add column is_anonymous boolean not null default false;
comment on column public.profiles.is_anonymous is 'auth.users.is_anonymous, kept by triggers on auth.users: an anonymous sign-in.';
update public.profiles p set is_anonymous = true from auth.users u where u.id = p.id and u.is_anonymous;

/**
 * vibepass.handle_new_user(): as in 20261127000000_sessions.sql, and the profile records
 * whether the sign-up was anonymous.
 */
create or replace function vibepass.handle_new_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.profiles (id, name, display_name, is_anonymous)
  values (
    new.id,
    coalesce(new.raw_user_meta_data ->> 'full_name', new.raw_user_meta_data ->> 'name'),
    vibepass.profile_display_name(new.raw_user_meta_data, new.email, new.id),
    new.is_anonymous
  )
  on conflict (id) do nothing;
  return new;
end;
$$;

/**
 * vibepass.copy_user_anonymity(): trigger after Supabase Auth changes auth.users.is_anonymous
 * (an anonymous user who links an email or provider becomes permanent): the profile follows,
 * and a present user's row changes in the feed. SECURITY DEFINER for the same reason as
 * handle_new_user.
 */
create function vibepass.copy_user_anonymity()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.profiles p set is_anonymous = new.is_anonymous where p.id = new.id;
  return null;
end;
$$;

revoke all on function vibepass.copy_user_anonymity() from public, anon, authenticated, service_role;

create trigger on_auth_user_anonymity_vibepass_profile
  after update of is_anonymous on auth.users
  for each row when (old.is_anonymous is distinct from new.is_anonymous)
  execute function vibepass.copy_user_anonymity();

-- The feed's rows carry it too.
alter table vibepass.presence_log add column is_anonymous boolean;

/**
 * vibepass.presence_append(kind, user, session, at, with_row): as in
 * 20261202120000_presence_feed.sql, and the row records is_anonymous.
 */
create or replace function vibepass.presence_append(kind text, uid uuid, sid uuid, at timestamptz, with_row boolean)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  if with_row then
    insert into vibepass.presence_log (seq, kind, user_id, session_id, at, display_name, checked_in_at, expires_at, preferences, is_anonymous)
    select pg_catalog.nextval('vibepass.presence_seq'), kind, uid, sid, at, p.display_name, s.checked_in_at, s.expires_at, p.preferences, p.is_anonymous
      from public.sessions s
      join public.profiles p on p.id = s.user_id
     where s.id = sid;
  else
    insert into vibepass.presence_log (seq, kind, user_id, session_id, at)
    values (pg_catalog.nextval('vibepass.presence_seq'), kind, uid, sid, at);
  end if;
end;
$$;

/**
 * vibepass.presence_profile_changed(): as in 20261202120000_presence_feed.sql; a change of
 * is_anonymous is an 'update' too.
 */
create or replace function vibepass.presence_profile_changed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  sid uuid;
begin
  if new.display_name is not distinct from old.display_name and new.preferences is not distinct from old.preferences
     and new.is_anonymous is not distinct from old.is_anonymous then
    return null;
  end if;
  perform vibepass.presence_lock();
  select s.id into sid
    from public.sessions s
   where s.user_id = new.id and s.status = 'active'
     and s.expires_at > (select c.expired_through from vibepass.presence_clock c);
  if sid is not null then
    perform vibepass.presence_append('update', new.id, sid, pg_catalog.clock_timestamp(), true);
  end if;
  return null;
end;
$$;

-- A function's columns cannot change in place: the readers are made again, with their grants.
drop function public.presence_changes(bigint, integer);
drop function vibepass.presence_changes(bigint, integer);
drop function public.active_users_page(timestamptz, uuid, integer);
drop function public.active_users();

/**
 * vibepass.presence_changes(after, max_rows): as in 20261202170000_feed_shared_lock.sql, with
 * is_anonymous.
 */
create function vibepass.presence_changes(after bigint, max_rows integer)
returns table (
  seq bigint,
  kind text,
  user_id uuid,
  at timestamptz,
  display_name text,
  checked_in_at timestamptz,
  expires_at timestamptz,
  preferences double precision[],
  is_anonymous boolean
)
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform vibepass.presence_lock();
  return query
    select l.seq, l.kind, l.user_id, l.at, l.display_name, l.checked_in_at, l.expires_at, l.preferences, l.is_anonymous
      from vibepass.presence_log l
     where l.seq > presence_changes.after
     order by l.seq
     limit greatest(presence_changes.max_rows, 0);
end;
$$;

/**
 * public.presence_changes(after, max_rows): the feed's changes after a cursor, in cursor
 * order, with is_anonymous for the rows of join, renew and update. PostgREST caps the rows at
 * its max_rows; callers page by the last seq.
 */
create function public.presence_changes(after bigint, max_rows integer default 1000)
returns table (
  seq bigint,
  kind text,
  user_id uuid,
  at timestamptz,
  display_name text,
  checked_in_at timestamptz,
  expires_at timestamptz,
  preferences double precision[],
  is_anonymous boolean
)
language sql
stable
set search_path = ''
as $$
  select * from vibepass.presence_changes(after, max_rows)
$$;

/**
 * public.active_users(): everyone with a live pass, newest check-in first (ties by user_id),
 * for the music model: user_id, display_name, checked_in_at, expires_at, preferences,
 * is_anonymous. Callable by service_role only. SECURITY INVOKER.
 */
create function public.active_users()
returns table (
  user_id uuid,
  display_name text,
  checked_in_at timestamptz,
  expires_at timestamptz,
  preferences double precision[],
  is_anonymous boolean
)
language sql
stable
set search_path = ''
as $$
  select s.user_id, p.display_name, s.checked_in_at, s.expires_at, p.preferences, p.is_anonymous
    from public.sessions s
    join public.profiles p on p.id = s.user_id
   where s.status = 'active' and s.expires_at > pg_catalog.now()
   order by s.checked_in_at desc, s.user_id desc
$$;

/**
 * public.active_users_page(after_checked_in_at, after_user_id, page_size): as in
 * 20261202130000_active_users_pages.sql, with is_anonymous.
 */
create function public.active_users_page(
  after_checked_in_at timestamptz default null,
  after_user_id uuid default null,
  page_size integer default 1000
)
returns table (
  user_id uuid,
  display_name text,
  checked_in_at timestamptz,
  expires_at timestamptz,
  preferences double precision[],
  is_anonymous boolean
)
language sql
stable
set search_path = ''
as $$
  select s.user_id, p.display_name, s.checked_in_at, s.expires_at, p.preferences, p.is_anonymous
    from public.sessions s
    join public.profiles p on p.id = s.user_id
   where s.status = 'active' and s.expires_at > pg_catalog.now()
     and (after_checked_in_at is null
          or (s.checked_in_at, s.user_id) < (after_checked_in_at, after_user_id))
   order by s.checked_in_at desc, s.user_id desc
   limit page_size
$$;

revoke all on function vibepass.presence_changes(bigint, integer), public.presence_changes(bigint, integer),
  public.active_users(), public.active_users_page(timestamptz, uuid, integer)
  from public, anon, authenticated, service_role;
grant execute on function vibepass.presence_changes(bigint, integer), public.presence_changes(bigint, integer),
  public.active_users(), public.active_users_page(timestamptz, uuid, integer)
  to service_role;
