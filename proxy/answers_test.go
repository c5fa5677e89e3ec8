package proxy

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/vibepass/vibepass"
)

// The spec's shapes of the check-in and status answers, as encoding/json writes them:
// what appendCheckin and appendSession must write byte for byte.
type (
	checkinData struct {
		SessionID        string    `json:"session_id"`
		ExpiresAt        timestamp `json:"expires_at"`
		ExpiresInMinutes int       `json:"expires_in_minutes"`
	}
	checkinResponse struct {
		Success bool        `json:"success"`
		Message string      `json:"message"`
		Data    checkinData `json:"data"`
	}
	passData struct {
		SessionID        string    `json:"session_id"`
		CheckedInAt      timestamp `json:"checked_in_at"`
		ExpiresAt        timestamp `json:"expires_at"`
		MinutesRemaining int       `json:"minutes_remaining"`
	}
	sessionResponse struct {
		Success bool      `json:"success"`
		Active  bool      `json:"active"`
		Message string    `json:"message,omitempty"`
		Data    *passData `json:"data,omitempty"`
	}
)

var answerTime = time.Date(2026, 11, 27, 2, 39, 55, 987654321, time.FixedZone("CET", 3600))

func TestAnswersAreWhatEncodingJSONWrites(t *testing.T) {
	for _, id := range []string{"00da74eb-1b2c-4d5e-8f90-a1b2c3d4e5f6", "", `quote " and <tag> & \ é ` + "\x01\xff"} {
		for _, minutes := range []int{60, 90, 0, -5} {
			in := vibepass.Checkin{SessionID: id, ExpiresAt: answerTime, ExpiresInMinutes: minutes}
			want, err := json.Marshal(checkinResponse{Success: true, Message: CheckinMessage(minutes), Data: checkinData{
				SessionID: id, ExpiresAt: timestamp(answerTime), ExpiresInMinutes: minutes,
			}})
			if err != nil {
				t.Fatal(err)
			}
			if got := appendCheckin(nil, in); string(got) != string(want) {
				t.Errorf("check-in answer\n got %s\nwant %s", got, want)
			}
			pass := &vibepass.Pass{SessionID: id, CheckedInAt: answerTime, ExpiresAt: answerTime.Add(time.Hour), MinutesRemaining: minutes}
			want, err = json.Marshal(sessionResponse{Success: true, Active: true, Data: &passData{
				SessionID: id, CheckedInAt: timestamp(pass.CheckedInAt), ExpiresAt: timestamp(pass.ExpiresAt), MinutesRemaining: minutes,
			}})
			if err != nil {
				t.Fatal(err)
			}
			if got := appendSession(nil, pass); string(got) != string(want) {
				t.Errorf("status answer\n got %s\nwant %s", got, want)
			}
		}
	}
	want, _ := json.Marshal(sessionResponse{Success: true, Active: false, Message: msgNoSession})
	if got := appendSession(nil, nil); string(got) != string(want) {
		t.Errorf("no-pass answer\n got %s\nwant %s", got, want)
	}
}

// BenchmarkCheckinAnswer and BenchmarkSessionAnswer report the cost of building the
// answers' bodies.
func BenchmarkCheckinAnswer(b *testing.B) {
	in := vibepass.Checkin{SessionID: "00da74eb-1b2c-4d5e-8f90-a1b2c3d4e5f6", ExpiresAt: answerTime, ExpiresInMinutes: 60}
	b.ReportAllocs()
	for b.Loop() {
		_ = appendCheckin(make([]byte, 0, responseCap), in)
	}
}

func BenchmarkSessionAnswer(b *testing.B) {
	pass := &vibepass.Pass{SessionID: "00da74eb-1b2c-4d5e-8f90-a1b2c3d4e5f6", CheckedInAt: answerTime, ExpiresAt: answerTime, MinutesRemaining: 60}
	b.ReportAllocs()
	for b.Loop() {
		_ = appendSession(make([]byte, 0, responseCap), pass)
	}
}
