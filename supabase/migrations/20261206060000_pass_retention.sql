-- vibepass: old passes are kept for vibepass.settings.pass_retention, with no cron job
-- (issue 24, §2).
--
-- public.sessions kept every pass that ended until an operator scheduled
-- vibepass.purge_sessions() with pg_cron: at a million present users tens of millions of rows
-- a day, without bound when nobody did. A pass expires with no cron job; now an old one goes
-- the same way. presence_tick(), which runs before every read of the list and every poll of
-- the feed, deletes up to 1,000 passes a tick that ended more than pass_retention ago (30
-- days by default, the period purge_sessions() always had), after it has logged the
-- expiries, so the feed's trigger logs nothing for them. A tick with nothing to delete reads
-- two short index ranges and writes nothing (20261202180000_idle_tick_writes_nothing.sql).
--
-- * vibepass.settings.pass_retention: at least one hour, the reach of presence_history(), and
--   at least feed_history, so every pass the feed can replay is still in public.sessions. A
--   project whose feed_history was raised above 30 days gets that as its retention.
-- * sessions_ended: the closed passes ('inactive') by when they ended. Partial, so check-ins
--   and renewals, which write 'active' rows, do not maintain it; the passes that ran out while
--   still 'active' are found through idx_sessions_active.
-- * vibepass.delete_ended_passes(cutoff, max_rows): the one delete, shared by presence_tick()
--   and vibepass.purge_sessions() (which stays, for purging sooner). It skips rows another
--   transaction is writing (SKIP LOCKED): a tick holds the feed's lock exclusively, and a
--   check-in waits for that lock at its commit while holding its pass's row.
-- supabase/schemas has the same definitions, each with why.

alter table vibepass.settings add column pass_retention interval not null default '30 days';
update vibepass.settings s set pass_retention = greatest(s.pass_retention, s.feed_history) where s.singleton;
alter table vibepass.settings add constraint settings_pass_retention_check
  check (pass_retention >= greatest(feed_history, interval '1 hour'));
comment on column vibepass.settings.pass_retention is
  'How long an ended pass stays in public.sessions: presence_tick() deletes older ones, up to 1,000 a tick. At least 1 hour (presence_history()) and at least feed_history.';

create index sessions_ended on public.sessions ((coalesce(ended_at, expires_at))) where status = 'inactive';

/**
 * vibepass.delete_ended_passes(cutoff, max_rows): deletes up to max_rows passes (all when
 * null) that ended before cutoff, oldest first; see supabase/schemas/20_passes.sql.
 */
create function vibepass.delete_ended_passes(cutoff timestamptz, max_rows bigint)
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  closed bigint;
  ran_out bigint;
begin
  delete from public.sessions s
   where s.ctid = any (array(select e.ctid from public.sessions e
                              where e.status = 'inactive' and coalesce(e.ended_at, e.expires_at) < cutoff
                              order by coalesce(e.ended_at, e.expires_at)
                              limit max_rows
                              for update skip locked));
  get diagnostics closed = row_count;

  delete from public.sessions s
   where s.ctid = any (array(select e.ctid from public.sessions e
                              where e.status = 'active' and e.expires_at < cutoff
                              order by e.expires_at
                              limit max_rows - closed
                              for update skip locked));
  get diagnostics ran_out = row_count;
  return closed + ran_out;
end;
$$;

revoke all on function vibepass.delete_ended_passes(timestamptz, bigint) from public, anon, authenticated, service_role;

/**
 * vibepass.presence_tick(): as in 20261206050000_one_rule_per_concern.sql, and deletes up to
 * 1,000 passes that ended more than settings.pass_retention ago, after logging the expiries.
 */
create or replace function vibepass.presence_tick()
returns json
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  clock vibepass.presence_clock;
  horizon timestamptz;
  history interval;
  retention interval;
  purged bigint;
  expired bigint;
begin
  perform vibepass.presence_lock_exclusive();
  select * into strict clock from vibepass.presence_clock;
  select s.feed_history, s.pass_retention into strict history, retention from vibepass.settings s;
  horizon := greatest(pg_catalog.clock_timestamp(), clock.expired_through);

  insert into vibepass.presence_log (seq, kind, user_id, session_id, at)
  select pg_catalog.nextval('vibepass.presence_seq'), 'expire', d.user_id, d.id, d.expires_at
    from (select s.user_id, s.id, s.expires_at
            from public.sessions s
           where s.status = 'active' and s.expires_at > clock.expired_through and s.expires_at <= horizon
           order by s.expires_at, s.id) d;
  get diagnostics expired = row_count;

  if expired > 0 then
    delete from vibepass.presence_log l
     using public.sessions s
     where l.session_id = s.id and l.kind in ('join', 'renew', 'update')
       and s.status = 'active' and s.expires_at > clock.expired_through and s.expires_at <= horizon;
  end if;

  with gone as (
    delete from vibepass.presence_log l
     where l.seq in (select o.seq from vibepass.presence_log o where o.at < horizon - history order by o.seq limit 1000)
    returning l.seq)
  select max(g.seq) into purged from gone g;

  -- Only when a pass ran out or the log was trimmed: otherwise the tick writes nothing, and its
  -- transaction commits without a WAL flush (20261202180000_idle_tick_writes_nothing.sql).
  if expired > 0 or purged is not null then
    update vibepass.presence_clock c
       set expired_through = horizon,
           purged_through = greatest(c.purged_through, coalesce(purged, 0))
     where c.singleton
    returning * into clock;
  end if;

  perform vibepass.delete_ended_passes(horizon - retention, 1000);

  return pg_catalog.json_build_object('cursor', vibepass.presence_head(), 'floor', clock.purged_through);
end;
$$;

/**
 * vibepass.purge_sessions(older_than): as before, through vibepass.delete_ended_passes().
 */
create or replace function vibepass.purge_sessions(older_than interval default '30 days')
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
begin
  if older_than is null or older_than < interval '0' then
    raise exception 'older_than must be a non-negative interval, got %', older_than
      using errcode = '22023';
  end if;
  return vibepass.delete_ended_passes(pg_catalog.now() - older_than, null);
end;
$$;

comment on table public.sessions is 'Vibe passes; the live ones are vibepass.live_passes. No API role writes them: checkin(), checkout(), sign-out (a trigger on auth.sessions), an account''s deletion (cascade), and vibepass.delete_ended_passes() (from presence_tick() after vibepass.settings.pass_retention, and from vibepass.purge_sessions()) do.';
