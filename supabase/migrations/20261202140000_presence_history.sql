-- Presence over the last hour, for the dashboard's chart: computed from public.sessions, which
-- keeps every pass with when it started and ended, so no extra history table or writer is needed.

/**
 * public.presence_history(): how many were present at the end of each of the last 60 minutes
 * (the current minute: now), oldest first, as [{"at": timestamptz, "count": N}, ...]. A pass is
 * present from checked_in_at until it ended: ended_at after a checkout, else expires_at.
 * Passes purged by vibepass.purge_sessions() are gone from it, as from the list.
 * Callable by service_role only, like public.presence_summary(). SECURITY INVOKER: the service
 * role may read public.sessions itself, so nothing needs a definer's rights.
 */
create function public.presence_history()
returns json
language sql
stable
set search_path = ''
as $$
  with samples as (
    select least(m + interval '1 minute', pg_catalog.now()) as at
      from pg_catalog.generate_series(pg_catalog.date_trunc('minute', pg_catalog.now()) - interval '59 minutes',
                                      pg_catalog.date_trunc('minute', pg_catalog.now()), interval '1 minute') m
  ),
  -- Only passes that overlap the hour: a pass ends at or before its expires_at.
  recent as (
    select s.checked_in_at, coalesce(s.ended_at, s.expires_at) as ended
      from public.sessions s
     where s.expires_at > pg_catalog.date_trunc('minute', pg_catalog.now()) - interval '59 minutes'
       and s.checked_in_at <= pg_catalog.now()
  )
  select pg_catalog.json_agg(pg_catalog.json_build_object('at', c.at, 'count', c.n) order by c.at)
    from (select x.at, pg_catalog.count(r.checked_in_at) as n
            from samples x
            left join recent r on r.checked_in_at <= x.at and r.ended > x.at
           group by x.at) c
$$;

revoke all on function public.presence_history() from public, anon, authenticated, service_role;
grant execute on function public.presence_history() to service_role;
