-- vibepass: the summary kept as the feed changes, instead of counted at each read (issue 24, §1).
--
-- presence_summary() counted every live pass and averaged their preferences while it held the
-- feed's lock exclusively, once a second for each model: every check-in, renewal and checkout
-- waits for that lock at its commit, so the scan's time was added to all of them. At 40,000
-- present users 3.9 of 5.1 busy backends waited on it and user calls took 10 s at p99
-- (docs/performance.md). Now:
-- * vibepass.presence_counted: the preferences each announced pass adds to the sums (those of
--   its last join, renew or update); its leave or expire takes exactly these away.
-- * vibepass.presence_count_changes: what session writes add to or take from the sums. They
--   hold the feed's lock shared, side by side, so they append rather than update one row.
-- * presence_clock.present and preference_sums: the totals at the head. presence_tick(),
--   which holds the lock exclusively, folds the changes in; the idle tick still writes nothing.
-- * presence_summary() ticks, then reads the totals: its cost is the changes since the last
--   tick, not the number of people present.
-- The passes announced now are counted in, under the feed's lock, with their profile's
-- preferences (those the feed shows for them). The lock is the transaction's and holds to the
-- end of this file: `supabase db push` sends a migration's statements as one batch, which is
-- one implicit transaction (supabase/cli apps/cli-go/pkg/migration/file.go, ExecBatch, at
-- 1d1e71912), so no session write commits between the new functions and the backfill.
-- supabase/schemas has the same definitions, each with why.

select vibepass.presence_lock_exclusive();

alter table vibepass.presence_clock
  add column present bigint not null default 0,
  add column preference_sums numeric[] not null default '{0,0,0,0,0}';

create table vibepass.presence_counted (
  session_id uuid primary key,
  preferences double precision[] not null
);
revoke all on table vibepass.presence_counted from public, anon, authenticated, service_role;

create table vibepass.presence_count_changes (
  change smallint not null check (change in (-1, 1)),
  preferences double precision[] not null
);
revoke all on table vibepass.presence_count_changes from public, anon, authenticated, service_role;

create or replace function vibepass.presence_append(kind text, uid uuid, sid uuid, at timestamptz, with_row boolean)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
  counted double precision[];
  shown double precision[];
begin
  if kind in ('leave', 'expire') then
    delete from vibepass.presence_log l where l.session_id = sid and l.kind in ('join', 'renew', 'update');
    delete from vibepass.presence_counted c where c.session_id = sid returning c.preferences into counted;
    if counted is not null then
      insert into vibepass.presence_count_changes (change, preferences) values (-1, counted);
    end if;
  end if;
  if with_row then
    insert into vibepass.presence_log (seq, kind, user_id, session_id, at, display_name, checked_in_at, expires_at, preferences, is_anonymous)
    select pg_catalog.nextval('vibepass.presence_seq'), kind, uid, sid, at, p.display_name, s.checked_in_at, s.expires_at, p.preferences, p.is_anonymous
      from public.sessions s
      join public.profiles p on p.id = s.user_id
     where s.id = sid
    returning preferences into shown;
    if shown is null then -- the pass was deleted in the transaction that made it: nothing to count
      return;
    end if;
    select c.preferences into counted from vibepass.presence_counted c where c.session_id = sid;
    if counted is null then
      insert into vibepass.presence_counted (session_id, preferences) values (sid, shown);
      insert into vibepass.presence_count_changes (change, preferences) values (1, shown);
    elsif counted is distinct from shown then
      update vibepass.presence_counted c set preferences = shown where c.session_id = sid;
      insert into vibepass.presence_count_changes (change, preferences) values (-1, counted), (1, shown);
    end if;
  else
    insert into vibepass.presence_log (seq, kind, user_id, session_id, at)
    values (pg_catalog.nextval('vibepass.presence_seq'), kind, uid, sid, at);
  end if;
end;
$$;

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
  folded bigint;
  present_change bigint;
  sums_change numeric[];
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
    with gone as (
      delete from vibepass.presence_counted c
       using public.sessions s
       where c.session_id = s.id
         and s.status = 'active' and s.expires_at > clock.expired_through and s.expires_at <= horizon
      returning c.preferences)
    insert into vibepass.presence_count_changes (change, preferences)
    select -1, g.preferences from gone g;
  end if;

  -- Every change to the sums, all committed: no session write is between its trigger and its
  -- commit while the lock is held exclusively.
  with changes as (
    delete from vibepass.presence_count_changes x where true
    returning x.change, x.preferences)
  select pg_catalog.count(*), pg_catalog.sum(x.change),
         array[pg_catalog.sum(x.change * x.preferences[1]::numeric), pg_catalog.sum(x.change * x.preferences[2]::numeric),
               pg_catalog.sum(x.change * x.preferences[3]::numeric), pg_catalog.sum(x.change * x.preferences[4]::numeric),
               pg_catalog.sum(x.change * x.preferences[5]::numeric)]
    into folded, present_change, sums_change
    from changes x;

  with gone as (
    delete from vibepass.presence_log l
     where l.seq in (select o.seq from vibepass.presence_log o where o.at < horizon - history order by o.seq limit 1000)
    returning l.seq)
  select max(g.seq) into purged from gone g;

  -- Only when a pass ran out, the sums changed or the log was trimmed: otherwise the tick
  -- writes nothing, and its transaction commits without a WAL flush
  -- (20261202180000_idle_tick_writes_nothing.sql).
  if expired > 0 or folded > 0 or purged is not null then
    update vibepass.presence_clock c
       set expired_through = horizon,
           purged_through = greatest(c.purged_through, coalesce(purged, 0)),
           present = c.present + coalesce(present_change, 0),
           preference_sums = case when folded = 0 then c.preference_sums
                                  else array[c.preference_sums[1] + sums_change[1], c.preference_sums[2] + sums_change[2],
                                             c.preference_sums[3] + sums_change[3], c.preference_sums[4] + sums_change[4],
                                             c.preference_sums[5] + sums_change[5]] end
     where c.singleton
    returning * into clock;
  end if;

  perform vibepass.delete_ended_passes(horizon - retention, 1000);

  return pg_catalog.json_build_object('cursor', vibepass.presence_head(), 'floor', clock.purged_through);
end;
$$;

create or replace function vibepass.presence_summary()
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

insert into vibepass.presence_counted (session_id, preferences)
select s.id, p.preferences
  from public.sessions s
  join public.profiles p on p.id = s.user_id
 where s.status = 'active' and s.expires_at > (select c.expired_through from vibepass.presence_clock c);

update vibepass.presence_clock c
   set present = t.present, preference_sums = t.sums
  from (select pg_catalog.count(*) as present,
               array[coalesce(pg_catalog.sum(m.preferences[1]::numeric), 0), coalesce(pg_catalog.sum(m.preferences[2]::numeric), 0),
                     coalesce(pg_catalog.sum(m.preferences[3]::numeric), 0), coalesce(pg_catalog.sum(m.preferences[4]::numeric), 0),
                     coalesce(pg_catalog.sum(m.preferences[5]::numeric), 0)] as sums
          from vibepass.presence_counted m) t
 where c.singleton;
