-- vibepass: two leftovers of issue 14's migrations.
--
-- 20261202160000_fast_rpc.sql wrote the expressions of vibepass.iso_utc() and
-- vibepass.minutes_left() into checkin(), session_status() and checkout() (a SQL helper with a
-- pinned search_path is planned at every call); nothing calls them since, and no API role may.
--
-- 20261202170000_feed_shared_lock.sql lets two session writes draw numbers n and n+1 and commit
-- in the other order; what holds is that no reader sees a number without every one below it.
-- The table's comment said "in commit order".

drop function vibepass.iso_utc(timestamptz), vibepass.minutes_left(timestamptz);

comment on table vibepass.presence_log is
  'The presence change feed, in cursor order (no reader sees a number without every one below it); kept for vibepass.settings.feed_history.';
