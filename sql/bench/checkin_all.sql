-- Gives every bench user without one a live pass, started within the last five
-- minutes and as long as the operator's pass length, so that the active-users
-- figure reads the whole population. Those the check-in figure already checked in
-- keep the pass checkin() gave them. Vacuum and analyze sessions afterwards.

begin;

insert into public.sessions (user_id, checked_in_at, expires_at, status, created_at)
select waiting.user_id, waiting.started, waiting.started + settings.pass_length, 'active', waiting.started
from (
    select u.id as user_id, now() - random() * interval '5 minutes' as started
    from auth.users u
    where u.email like '%@bench.vibepass.invalid'
      and not exists (select 1 from public.sessions s where s.user_id = u.id and s.status = 'active')
) as waiting
cross join vibepass.settings as settings;

commit;
