package apijson

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
		ExpiresAt        Timestamp `json:"expires_at"`
		ExpiresInMinutes int       `json:"expires_in_minutes"`
	}
	checkinResponse struct {
		Success bool        `json:"success"`
		Message string      `json:"message"`
		Data    checkinData `json:"data"`
	}
	passData struct {
		SessionID        string    `json:"session_id"`
		CheckedInAt      Timestamp `json:"checked_in_at"`
		ExpiresAt        Timestamp `json:"expires_at"`
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
				SessionID: id, ExpiresAt: Timestamp(answerTime), ExpiresInMinutes: minutes,
			}})
			if err != nil {
				t.Fatal(err)
			}
			if got := AppendCheckin(nil, in); string(got) != string(want) {
				t.Errorf("check-in answer\n got %s\nwant %s", got, want)
			}
			pass := &vibepass.Pass{SessionID: id, CheckedInAt: answerTime, ExpiresAt: answerTime.Add(time.Hour), MinutesRemaining: minutes}
			want, err = json.Marshal(sessionResponse{Success: true, Active: true, Data: &passData{
				SessionID: id, CheckedInAt: Timestamp(pass.CheckedInAt), ExpiresAt: Timestamp(pass.ExpiresAt), MinutesRemaining: minutes,
			}})
			if err != nil {
				t.Fatal(err)
			}
			if got := AppendSession(nil, pass); string(got) != string(want) {
				t.Errorf("status answer\n got %s\nwant %s", got, want)
			}
		}
	}
	want, _ := json.Marshal(sessionResponse{Success: true, Active: false, Message: NoSession})
	if got := AppendSession(nil, nil); string(got) != string(want) {
		t.Errorf("no-pass answer\n got %s\nwant %s", got, want)
	}
}

// BenchmarkCheckinAnswer and BenchmarkSessionAnswer report the cost of building the
// answers' bodies.
func BenchmarkCheckinAnswer(b *testing.B) {
	in := vibepass.Checkin{SessionID: "00da74eb-1b2c-4d5e-8f90-a1b2c3d4e5f6", ExpiresAt: answerTime, ExpiresInMinutes: 60}
	b.ReportAllocs()
	for b.Loop() {
		_ = AppendCheckin(make([]byte, 0, ResponseCap), in)
	}
}

func BenchmarkSessionAnswer(b *testing.B) {
	pass := &vibepass.Pass{SessionID: "00da74eb-1b2c-4d5e-8f90-a1b2c3d4e5f6", CheckedInAt: answerTime, ExpiresAt: answerTime, MinutesRemaining: 60}
	b.ReportAllocs()
	for b.Loop() {
		_ = AppendSession(make([]byte, 0, ResponseCap), pass)
	}
}

// TestCheckinMessage: the message names the pass length as the spec does.
func TestCheckinMessage(t *testing.T) {
	for minutes, want := range map[int]string{
		60:  "1-hour vibe pass activated",
		30:  "30-minute vibe pass activated",
		120: "2-hour vibe pass activated",
		90:  "90-minute vibe pass activated",
	} {
		if got := CheckinMessage(minutes); got != want {
			t.Errorf("CheckinMessage(%d) = %q, want %q", minutes, got, want)
		}
	}
}

// TestListAndChangesAreWhatEncodingJSONWrites checks the model list's frame around its
// rows and the feed's change data against encoding/json.
func TestListAndChangesAreWhatEncodingJSONWrites(t *testing.T) {
	row := vibepass.ActiveUser{UserID: "00000000-0000-4000-8000-000000000001", DisplayName: `Zoë "<b>"`,
		CheckedInAt: answerTime, ExpiresAt: answerTime.Add(time.Hour), Preferences: []float64{0.5, 0.25, 0.1, 0.9, 0.7}}
	rowJSON, err := AppendActiveUser(nil, row)
	if err != nil {
		t.Fatal(err)
	}
	got := AppendListHead(nil, answerTime)
	got = append(append(append(got, rowJSON...), ','), rowJSON...)
	got = AppendListTail(got, 2, "42")
	want, err := json.Marshal(struct {
		Success   bool              `json:"success"`
		Timestamp Timestamp         `json:"timestamp"`
		Data      []json.RawMessage `json:"data"`
		Count     int               `json:"count"`
		Cursor    string            `json:"cursor"`
	}{true, Timestamp(answerTime), []json.RawMessage{rowJSON, rowJSON}, 2, "42"})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("list\n got %s\nwant %s", got, want)
	}

	want, _ = json.Marshal(struct {
		UserID string    `json:"user_id"`
		At     Timestamp `json:"at"`
	}{`a "b" <c>`, Timestamp(answerTime)})
	if got := AppendChange(nil, vibepass.Change{Kind: vibepass.ChangeLeave, UserID: `a "b" <c>`, At: answerTime}); string(got) != string(want) {
		t.Errorf("leave\n got %s\nwant %s", got, want)
	}
	if got := AppendChange(nil, vibepass.Change{Kind: vibepass.ChangeJoin, User: &row}); string(got) != string(rowJSON) {
		t.Errorf("a join's data is %s, want its row %s", got, rowJSON)
	}
}
