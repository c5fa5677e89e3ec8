-- The spec's two monitoring queries, exactly as written there. Run them as the database owner
-- (postgres), e.g. with the URL `vibepass dev` prints:  psql "<db URL>" -f sql/monitoring.sql
-- The same queries are also views: select * from vibepass.active_sessions;
--                                  select * from vibepass.session_counts;

-- See currently active users
SELECT 
  p.name,
  p.display_name,
  s.checked_in_at,
  s.expires_at,
  ROUND(EXTRACT(EPOCH FROM (s.expires_at - NOW())) / 60) as mins_left
FROM sessions s
JOIN profiles p ON p.id = s.user_id
WHERE s.status = 'active'
  AND s.expires_at > NOW()
ORDER BY s.checked_in_at DESC;

-- Count active sessions
SELECT 
  COUNT(*) FILTER (WHERE expires_at > NOW()) as active,
  COUNT(*) FILTER (WHERE expires_at <= NOW()) as expired,
  COUNT(*) as total
FROM sessions
WHERE status = 'active';
