/*
 * -------------------------------------------------------
 * What the music model reads
 * -------------------------------------------------------
 * Only people with a live pass (vibepass.live_passes, 20_passes.sql) are ever shown to the
 * model. Everything here is executable by service_role only (the model's backend) and, but
 * for vibepass.presence_summary() (below), is SECURITY INVOKER: service_role reads both
 * tables and bypasses RLS, so nothing needs a definer's rights.
 *
 * The list's order is total: newest check-in first, ties (passes made in one transaction
 * share now()) broken by user_id, which is unique among live passes. A page then starts
 * exactly after the last row of the one before, and both upstreams list the same users in
 * the same order.
 */

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
begin atomic
  select s.user_id, p.display_name, s.checked_in_at, s.expires_at, p.preferences, p.is_anonymous
    from vibepass.live_passes s
    join public.profiles p on p.id = s.user_id
   order by s.checked_in_at desc, s.user_id desc;
end;

/**
 * public.active_users_page(after_checked_in_at, after_user_id, page_size): the rows of
 * public.active_users() that come after (after_checked_in_at, after_user_id) in its order, at
 * most page_size of them (null: all; negative: error 2201W). Both after_* null: the first page.
 * A pass's key never changes while it is live (a renewal moves only expires_at), so a walk of
 * pages lists every pass live throughout the walk exactly once. PostgREST cuts every
 * set-returning answer at db-max-rows (Supabase's default: 1,000 rows), RPCs included, so the
 * postgrest upstream reads the list through this until a short page.
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
  preferences double precision[],
  is_anonymous boolean
)
language sql
stable
set search_path = ''
begin atomic
  select s.user_id, p.display_name, s.checked_in_at, s.expires_at, p.preferences, p.is_anonymous
    from vibepass.live_passes s
    join public.profiles p on p.id = s.user_id
   where after_checked_in_at is null
      or (s.checked_in_at, s.user_id) < (after_checked_in_at, after_user_id)
   order by s.checked_in_at desc, s.user_id desc
   limit page_size;
end;

/**
 * vibepass.presence_summary(): {"count": N, "mean": [m1..m5] or null, "cursor": <head>} for
 * the passes public.active_users() lists, with the per-dimension mean of their preferences.
 * It ticks first (presence_tick(), under the feed's exclusive lock), so passes that ran out
 * are gone from the numbers and in the cursor, and the count and sums it reads are those
 * presence_clock holds at that head: kept as the feed changes (30_presence_feed.sql), so a
 * summary costs the changes since the last tick, not a scan of every live pass.
 * SECURITY DEFINER only so that PL/pgSQL, which resolves names when it runs, may name
 * vibepass's objects without service_role having USAGE on vibepass; the owner reads the
 * same rows service_role may read.
 */
create function vibepass.presence_summary()
returns json
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  head json;
  clock vibepass.presence_clock;
begin
  head := vibepass.presence_tick();
  select * into strict clock from vibepass.presence_clock;
  return pg_catalog.json_build_object(
    'count', clock.present,
    'mean', case when clock.present = 0 then null
                 else pg_catalog.json_build_array((clock.preference_sums[1] / clock.present)::double precision,
                        (clock.preference_sums[2] / clock.present)::double precision, (clock.preference_sums[3] / clock.present)::double precision,
                        (clock.preference_sums[4] / clock.present)::double precision, (clock.preference_sums[5] / clock.present)::double precision) end,
    'cursor', head -> 'cursor');
end;
$$;

revoke all on function vibepass.presence_summary() from public, anon, authenticated, service_role;
grant execute on function vibepass.presence_summary() to service_role;

/**
 * public.presence_summary(): see vibepass.presence_summary().
 */
create function public.presence_summary()
returns json
language sql
volatile
set search_path = ''
begin atomic
  select vibepass.presence_summary();
end;

/**
 * public.presence_history(): how many were present at the end of each of the last 60 minutes
 * (the current minute: now), oldest first, as [{"at": timestamptz, "count": N}, ...], for the
 * dashboard's chart. A pass is present from checked_in_at until it ended: ended_at after a
 * checkout or sign-out, else expires_at. Computed from public.sessions, which keeps every
 * pass with when it started and ended for settings.pass_retention (at least an hour) after its
 * end, so no history table or writer is needed. Passes an operator purged sooner with
 * vibepass.purge_sessions() are gone from it, as from the list.
 * Callable by service_role only. SECURITY INVOKER.
 */
create function public.presence_history()
returns json
language sql
stable
set search_path = ''
begin atomic
  with samples as (
    select least(m + interval '1 minute', pg_catalog.now()) as at
      from pg_catalog.generate_series(pg_catalog.date_trunc('minute', pg_catalog.now()) - interval '59 minutes',
                                      pg_catalog.date_trunc('minute', pg_catalog.now()), interval '1 minute') m
  ),
  -- Only passes that overlap the hour: a pass ends at or before its expires_at. ("ended_at"
  -- is quoted for the Supabase CLI: see 00_settings.sql.)
  recent as (
    select s.checked_in_at, coalesce(s."ended_at", s.expires_at) as gone_at
      from public.sessions s
     where s.expires_at > pg_catalog.date_trunc('minute', pg_catalog.now()) - interval '59 minutes'
       and s.checked_in_at <= pg_catalog.now()
  )
  select pg_catalog.json_agg(pg_catalog.json_build_object('at', c.at, 'count', c.n) order by c.at)
    from (select x.at, pg_catalog.count(r.checked_in_at) as n
            from samples x
            left join recent r on r.checked_in_at <= x.at and r.gone_at > x.at
           group by x.at) c;
end;

revoke all on function public.active_users(), public.active_users_page(timestamptz, uuid, integer),
  public.presence_summary(), public.presence_history()
  from public, anon, authenticated, service_role;
grant execute on function public.active_users(), public.active_users_page(timestamptz, uuid, integer),
  public.presence_summary(), public.presence_history()
  to service_role;
