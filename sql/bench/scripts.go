// Package bench holds the SQL that `vibepass bench` runs to load its population and to
// measure the database's own limit.
package bench

import _ "embed"

// Load makes the bench users (auth.users, their profiles through the sign-up trigger,
// random preferences) and their finished passes; see load.sql for its two settings.
//
//go:embed load.sql
var Load string

// CheckInAll gives every bench user without one a live pass.
//
//go:embed checkin_all.sql
var CheckInAll string

// Limit makes the empty scratch table the bare statements below use; see limit.sql.
//
//go:embed limit.sql
var Limit string

// DropLimit removes what Limit made.
const DropLimit = "drop schema if exists vibepass_limit cascade"

// FillLimit gives every bench user a row in the scratch table, as CheckInAll gives them a
// live pass.
const FillLimit = `insert into vibepass_limit.passes (user_id, expires_at)
select u.id, pg_catalog.now() + interval '60 minutes' from auth.users u where u.email like '%@bench.vibepass.invalid'
on conflict (user_id) do nothing`

// The bare statements, each for the user $1: what checkin(), session_status() and
// checkout() do to a table with only its primary key, with no rule, trigger or JSON.
const (
	LimitCheckinSQL = `insert into vibepass_limit.passes as p (user_id, expires_at) values ($1, pg_catalog.now() + interval '60 minutes')
on conflict (user_id) do update set expires_at = excluded.expires_at returning p.session_id, p.expires_at`
	LimitStatusSQL   = "select p.session_id, p.checked_in_at, p.expires_at from vibepass_limit.passes p where p.user_id = $1"
	LimitCheckoutSQL = "delete from vibepass_limit.passes p where p.user_id = $1 returning p.session_id"
)
