// Package bench holds the SQL that `vibepass bench` runs to load its population.
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
