package api

import (
	"net/http"
	"testing"
	"time"
)

func TestParsePrefer(t *testing.T) {
	for _, tc := range []struct {
		headers []string
		want    preferences
	}{
		{nil, preferences{}},
		{[]string{"respond-async"}, preferences{async: true}},
		{[]string{"respond-async, wait=10"}, preferences{async: true, wait: 10 * time.Second}},
		{[]string{"Respond-Async", `wait="30"`}, preferences{async: true, wait: 30 * time.Second}},
		{[]string{"respond-async; foo=bar, wait=5; x"}, preferences{async: true, wait: 5 * time.Second}},
		{[]string{"return=minimal, wait=soon"}, preferences{}},
		{[]string{"wait=-3, respond-async"}, preferences{async: true}},
		{[]string{"respond-async, wait=999999"}, preferences{async: true, wait: maxPreferredWait}},
		{[]string{"handling=lenient"}, preferences{}},
	} {
		h := http.Header{}
		for _, v := range tc.headers {
			h.Add("Prefer", v)
		}
		if got := parsePrefer(h); got != tc.want {
			t.Errorf("Prefer %q: %+v, want %+v", tc.headers, got, tc.want)
		}
	}
}
