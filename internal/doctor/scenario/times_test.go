package scenario

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"testing"
	"time"

	"mailautoconf/internal/doctor"
)

// TestScenarioEndpointTimes: an IMAPS server that accepts the connection
// and never answers the handshake reports the time the probe waited for
// it (the 2 s timeout at least), in the report, its JSON and its text; it
// reported 0 ms, the time being set on a copy already returned. Every
// other endpoint reports its real time, at least 1 ms.
func TestScenarioEndpointTimes(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Second // scenario.run's
	ca := newCA(t)
	s := newScenario(t, ca)
	s.silent993 = true
	rep := s.run(t, ca)
	slow := "IMAP imap.example.com:993 SSL"
	check := func(where, endpoint string, ms int64) {
		t.Helper()
		switch {
		case endpoint == slow && ms < timeout.Milliseconds():
			t.Errorf("%s: %s took %d ms, want at least the %v timeout", where, endpoint, ms, timeout)
		case ms < 1:
			t.Errorf("%s: %s took %d ms, want its real time (at least 1 ms)", where, endpoint, ms)
		}
	}
	found := false
	for _, e := range rep.Endpoints {
		check("report", e.Endpoint.String(), e.Millis)
		found = found || e.Endpoint.String() == slow
	}
	if !found {
		t.Fatalf("no endpoint %s in the report", slow)
	}

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Endpoints []struct {
			doctor.Endpoint
			MS int64 `json:"ms"`
		}
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Endpoints) != len(rep.Endpoints) {
		t.Fatalf("JSON endpoints: %v, %d of %d", err, len(back.Endpoints), len(rep.Endpoints))
	}
	for _, e := range back.Endpoints {
		check("JSON", e.Endpoint.String(), e.MS)
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text, true); err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^  ((?:IMAP|POP3|SMTP) \S+ \S+)\s+[A-Z]+\s.*\((\d+) ms\)$`)
	lines := line.FindAllStringSubmatch(text.String(), -1)
	if len(lines) != len(rep.Endpoints) {
		t.Fatalf("text: %d endpoint lines with a time, want %d:\n%s", len(lines), len(rep.Endpoints), text.String())
	}
	for _, m := range lines {
		ms, _ := strconv.ParseInt(m[2], 10, 64)
		check("text", m[1], ms)
	}
}
