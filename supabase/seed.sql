-- Demo data for local runs: the spec's example users and a few more, each with a profile (made
-- by the sign-up trigger) and preferences. Safe to run again: existing users are kept and their
-- names and preferences set back to these. Passes are left out: check in to make one.
--
-- The users can also sign in on a local Supabase stack (supabase start) with their email and
-- the password "vibepass-demo".

insert into auth.users (
  instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
  confirmation_token, recovery_token, email_change_token_new, email_change,
  raw_app_meta_data, raw_user_meta_data, created_at, updated_at
)
select '00000000-0000-0000-0000-000000000000', u.id, 'authenticated', 'authenticated', u.email,
       extensions.crypt('vibepass-demo', extensions.gen_salt('bf')), now(),
       '', '', '', '',
       '{"provider": "email", "providers": ["email"]}',
       jsonb_build_object('name', u.name, 'display_name', u.display_name),
       now(), now()
from (values
  ('00000000-0000-4000-8000-000000000001'::uuid, 'musicfan@example.com',  'Music Fan',  'MusicFan'),
  ('00000000-0000-4000-8000-000000000002'::uuid, 'beatlover@example.com', 'Beat Lover', 'BeatLover'),
  ('00000000-0000-4000-8000-000000000003'::uuid, 'chillwave@example.com', 'Chill Wave', 'ChillWave'),
  ('00000000-0000-4000-8000-000000000004'::uuid, 'bassdrop@example.com',  'Bass Drop',  'BassDrop'),
  ('00000000-0000-4000-8000-000000000005'::uuid, 'jazzcat@example.com',   'Jazz Cat',   'JazzCat'),
  ('00000000-0000-4000-8000-000000000006'::uuid, 'indiekid@example.com',  'Indie Kid',  'IndieKid')
) as u (id, email, name, display_name)
on conflict (id) do nothing;

update public.profiles p
   set name = v.name, display_name = v.display_name, preferences = v.preferences
  from (values
    ('00000000-0000-4000-8000-000000000001'::uuid, 'Music Fan',  'MusicFan',  '{0.5,0.8,0.2,1.0,0.0}'::double precision[]),
    ('00000000-0000-4000-8000-000000000002'::uuid, 'Beat Lover', 'BeatLover', '{0.3,0.6,0.9,0.1,0.7}'::double precision[]),
    ('00000000-0000-4000-8000-000000000003'::uuid, 'Chill Wave', 'ChillWave', '{0.1,0.2,0.4,0.9,0.6}'::double precision[]),
    ('00000000-0000-4000-8000-000000000004'::uuid, 'Bass Drop',  'BassDrop',  '{1.0,0.9,0.1,0.3,0.2}'::double precision[]),
    ('00000000-0000-4000-8000-000000000005'::uuid, 'Jazz Cat',   'JazzCat',   '{0.2,0.4,0.8,0.6,0.9}'::double precision[]),
    ('00000000-0000-4000-8000-000000000006'::uuid, 'Indie Kid',  'IndieKid',  '{0.6,0.5,0.5,0.4,0.3}'::double precision[])
  ) as v (id, name, display_name, preferences)
 where p.id = v.id;
