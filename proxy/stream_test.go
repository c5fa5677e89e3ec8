package proxy

import (
	"math"
	"testing"
)

func TestPreferencesKeepTheirDecimalPoint(t *testing.T) {
	got, err := preferences{0.5, 1, 0, 0.25, 1e-7}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if want := `[0.5,1.0,0.0,0.25,0.0000001]`; string(got) != want {
		t.Fatalf("preferences encode as %s, want %s", got, want)
	}
	if _, err := (preferences{math.NaN()}).MarshalJSON(); err == nil {
		t.Fatal("NaN encoded without an error; JSON has no NaN")
	}
}
