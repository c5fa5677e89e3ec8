-- The model's list in keyset pages. PostgREST cuts every set-returning answer at db-max-rows
-- (Supabase's default: 1,000 rows), RPCs included, so the postgrest upstream cannot read
-- public.active_users() in one call; it reads public.active_users_page() until a short page.

/*
 * The list's order made total: newest check-in first, ties (passes made in one transaction
 * share now()) broken by user_id, which is unique among live passes. A page then starts exactly
 * after the last row of the one before, and both upstreams list the same users in the same order.
 */
create or replace function public.active_users()
returns table (
  user_id uuid,
  display_name text,
  checked_in_at timestamptz,
  expires_at timestamptz,
  preferences double precision[]
)
language sql
stable
set search_path = ''
as $$
  select s.user_id, p.display_name, s.checked_in_at, s.expires_at, p.preferences
    from public.sessions s
    join public.profiles p on p.id = s.user_id
   where s.status = 'active' and s.expires_at > pg_catalog.now()
   order by s.checked_in_at desc, s.user_id desc
$$;

/**
 * public.active_users_page(after_checked_in_at, after_user_id, page_size): the rows of
 * public.active_users() that come after (after_checked_in_at, after_user_id) in its order, at
 * most page_size of them (null: all; negative: error 2201W). Both after_* null: the first page.
 * A pass's key never changes while it is live (a renewal moves only expires_at), so a walk of
 * pages lists every pass live throughout the walk exactly once.
 * Callable by service_role only, like active_users. SECURITY INVOKER.
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
  preferences double precision[]
)
language sql
stable
set search_path = ''
as $$
  select s.user_id, p.display_name, s.checked_in_at, s.expires_at, p.preferences
    from public.sessions s
    join public.profiles p on p.id = s.user_id
   where s.status = 'active' and s.expires_at > pg_catalog.now()
     and (after_checked_in_at is null
          or (s.checked_in_at, s.user_id) < (after_checked_in_at, after_user_id))
   order by s.checked_in_at desc, s.user_id desc
   limit page_size
$$;

revoke all on function public.active_users_page(timestamptz, uuid, integer)
  from public, anon, authenticated, service_role;
grant execute on function public.active_users_page(timestamptz, uuid, integer) to service_role;

-- Each page walks this index from its cursor and stops after page_size live rows, instead of
-- sorting every live pass again for every page.
create index idx_sessions_live_by_checkin on public.sessions (checked_in_at desc, user_id desc)
  where status = 'active';
