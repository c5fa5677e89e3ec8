-- Display names hold nothing a reader cannot see: no control or format characters, no space
-- but U+0020 (never two in a row, none at the ends). The Data API refuses such a name with the
-- CHECK's exact error; a sign-up cleans it instead of failing.
-- Users are made and played through the helpers in helpers.psql.
begin;
create extension if not exists pgtap with schema extensions;
\ir helpers.psql
select plan(42);

-- Sign-ups, as Supabase Auth inserts them: the metadata's name is cleaned, and when nothing
-- is left the next source is taken.
select tests.create_supabase_user('ivy', 'ivy@test.local',
  metadata => jsonb_build_object('display_name', E'\u202eIvy\u200b\tthe\u00a0Great\u001b[0m\u0007\n'));
select tests.create_supabase_user('jon', 'jon@test.local',
  metadata => jsonb_build_object('display_name', E'\u200b\u00a0\u3000\t\u3164', 'user_name', E'jonny\u2028'));
select tests.create_supabase_user('kim', 'kim@test.local',
  metadata => jsonb_build_object('display_name', E'\u202e', 'user_name', E'\r\n', 'name', E'\ufeff'));
select tests.create_supabase_user('lee', 'lee@test.local',
  metadata => jsonb_build_object('display_name', repeat('a', 63) || E'\u2003b' || repeat('c', 10)));
select tests.create_supabase_user('max', E'\u200b@test.local',
  metadata => jsonb_build_object('display_name', E'Ma\u00adx\U000E0041 \U0001F3A7'));
select tests.create_supabase_user('ned', E'\u200b\u200b@test.local', metadata => '{}');

select set_eq(
  $$ select display_name from public.profiles
      where id in (select tests.get_supabase_uid(u) from unnest(array['ivy', 'jon', 'kim', 'lee', 'max']) u) $$,
  $$ values ('Ivy the Great [0m'::text), ('Max 🎧'), ('jonny'), ('kim'), (repeat('a', 63)) $$,
  'sign-up: the metadata name is cleaned (dropped, spaced, trimmed, cut to 64), else the next source'
);
select is((select display_name from public.profiles where id = tests.get_supabase_uid('ned')),
  'user-' || left(tests.get_supabase_uid('ned')::text, 8), 'sign-up: nothing usable anywhere gives user-<id>');

-- The Data API, as a user updating their own display_name: every refused class, with the
-- exact error PostgREST passes on (23514, HTTP 400).
select tests.authenticate_as('ivy');
select throws_ok(
  format('update public.profiles set display_name = %L', name),
  '23514', 'new row for relation "profiles" violates check constraint "profiles_display_name_plain"',
  'display_name: ' || what || ' is refused')
from (values
  (E'a\tb', 'a tab'),
  (E'a\nb', 'a newline'),
  (E'a\rb', 'a carriage return'),
  (E'a\u001b[31mb', 'an ESC sequence'),
  (E'a\u0007b', 'BEL'),
  (E'a\u0001b', 'U+0001'),
  (E'a\u007fb', 'DEL'),
  (E'a\u0085b', 'NEL (C1 control)'),
  (E'a\u009bb', 'CSI (C1 control)'),
  (E'a\u00a0b', 'NBSP'),
  (E'a\u2003b', 'an em space'),
  (E'a\u3000b', 'an ideographic space'),
  (E'a\u2028b', 'a line separator'),
  (E'a\u2029b', 'a paragraph separator'),
  (E'a\u200bb', 'a zero-width space'),
  (E'a\u200db', 'a zero-width joiner'),
  (E'\u202eab', 'RLO'),
  (E'a\u2066b', 'LRI'),
  (E'a\u00adb', 'a soft hyphen'),
  (E'\ufeffab', 'a BOM'),
  (E'a\U000E0041b', 'a tag character'),
  (E'a\u3164b', 'a Hangul filler'),
  (E'\u00a0', 'NBSP alone (blank)'),
  (E'\u200b\u200b', 'a name of zero-width spaces (blank)'),
  (' ab', 'a leading space'),
  ('ab ', 'a trailing space'),
  ('a  b', 'a double space')
) v (name, what);

-- Names as people write them stay as they are.
select lives_ok(format('update public.profiles set display_name = %L', name), 'display_name: ' || what || ' is accepted')
from (values
  ('Ann Lee', 'a plain space'),
  ('Zoë', 'a precomposed accent'),
  (E'Zoe\u0308', 'a combining accent'),
  ('李小龙', 'CJK'),
  ('مريم', 'Arabic'),
  (E'\u2764\ufe0f Beats', 'an emoji with its variation selector'),
  ('O''Brien <b>&amp;</b> "DJ"', 'a name with quotes and markup'),
  (repeat('x', 64), '64 characters')
) v (name, what);
select is((select display_name from public.profiles where id = tests.get_supabase_uid('ivy')), repeat('x', 64),
  'the accepted name is stored as written');

-- The blank name keeps its old error: the length CHECK names it first.
select throws_ok($$ update public.profiles set display_name = '   ' $$,
  '23514', 'new row for relation "profiles" violates check constraint "profiles_display_name_length"',
  'display_name: spaces alone still fail the length CHECK first');

-- The owner is held to the same rule.
select tests.clear_authentication();
select throws_ok(format('update public.profiles set display_name = %L where id = %L', E'x\ty', tests.get_supabase_uid('kim')),
  '23514', 'new row for relation "profiles" violates check constraint "profiles_display_name_plain"',
  'display_name: the CHECK binds the owner too');

-- The cleaning function itself: null in, null out; clean names are fixed points.
select ok(vibepass.plain_display_name(null) is null, 'plain_display_name(null) is null');
select is(vibepass.plain_display_name(E' \t a \u00a0\u200b b \n'), 'a b', 'plain_display_name: runs become one space, the ends go');

select * from finish();
rollback;
