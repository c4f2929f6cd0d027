package oidc

import (
	"net/url"
	"strings"
	"testing"
)

const (
	cbState = "q6nq1Q2k7yXcJmVh0bqg3v8yJm7p5s1tW4uZx9aBcDe"
	cbIss   = "https://idporten.no"
)

var callbackTests = []struct {
	name  string
	query string
	want  Callback // ok cases
	fail  bool
}{
	{name: "ok/code", query: "code=abc.DEF-123_~&state=" + cbState + "&iss=" + url.QueryEscape(cbIss),
		want: Callback{Code: "abc.DEF-123_~", State: cbState, Iss: cbIss}},
	{name: "ok/keycloak-code-and-session-state", query: "state=" + cbState + "&session_state=x&session_state=y&code=2f1e.3c4d%2B/=",
		want: Callback{Code: "2f1e.3c4d+/=", State: cbState}},
	{name: "ok/code-with-vschar", query: "state=" + cbState + "&code=" + url.QueryEscape("a!#$%&'()*+,/:;<=>?@[]^`{|}"),
		want: Callback{Code: "a!#$%&'()*+,/:;<=>?@[]^`{|}", State: cbState}},
	{name: "ok/error", query: "error=access_denied&error_description=User+cancelled+the+login&state=" + cbState + "&iss=" + url.QueryEscape(cbIss),
		want: Callback{Error: "access_denied", ErrorDescription: "User cancelled the login", State: cbState, Iss: cbIss}},
	{name: "ok/error-without-description", query: "error=server_error&state=" + cbState,
		want: Callback{Error: "server_error", State: cbState}},

	{name: "fail/empty", query: "", fail: true},
	{name: "fail/no-state", query: "code=abc", fail: true},
	{name: "fail/no-code-no-error", query: "state=" + cbState, fail: true},
	{name: "fail/code-and-error", query: "code=abc&error=access_denied&state=" + cbState, fail: true},
	{name: "fail/description-without-error", query: "code=abc&error_description=x&state=" + cbState, fail: true},
	{name: "fail/state-twice", query: "code=abc&state=" + cbState + "&state=" + cbState, fail: true},
	{name: "fail/code-twice", query: "code=abc&code=abd&state=" + cbState, fail: true},
	{name: "fail/iss-twice", query: "code=abc&state=" + cbState + "&iss=a&iss=a", fail: true},
	{name: "fail/error-twice", query: "error=access_denied&error=x&state=" + cbState, fail: true},
	{name: "fail/empty-code", query: "code=&state=" + cbState, fail: true},
	{name: "fail/empty-state", query: "code=abc&state=", fail: true},
	{name: "fail/empty-iss", query: "code=abc&state=" + cbState + "&iss=", fail: true},
	{name: "fail/state-slash", query: "code=abc&state=a/b", fail: true},
	{name: "fail/state-space", query: "code=abc&state=a+b", fail: true},
	{name: "fail/state-too-long", query: "code=abc&state=" + strings.Repeat("a", 257), fail: true},
	{name: "fail/code-space", query: "code=a+b&state=" + cbState, fail: true},
	{name: "fail/code-newline", query: "code=a%0Ab&state=" + cbState, fail: true},
	{name: "fail/code-nul", query: "code=a%00b&state=" + cbState, fail: true},
	{name: "fail/code-utf8", query: "code=%C3%A6&state=" + cbState, fail: true},
	{name: "fail/code-too-long", query: "code=" + strings.Repeat("a", 2049) + "&state=" + cbState, fail: true},
	{name: "fail/iss-newline", query: "code=abc&state=" + cbState + "&iss=https://a%0A", fail: true},
	{name: "fail/iss-too-long", query: "code=abc&state=" + cbState + "&iss=" + strings.Repeat("a", 1025), fail: true},
	{name: "fail/error-with-space", query: "error=access+denied&state=" + cbState, fail: true},
	{name: "fail/error-too-long", query: "error=" + strings.Repeat("e", 65) + "&state=" + cbState, fail: true},
	{name: "fail/description-quote", query: "error=x&error_description=%22&state=" + cbState, fail: true},
	{name: "fail/description-newline", query: "error=x&error_description=a%0Ab&state=" + cbState, fail: true},
	{name: "fail/description-too-long", query: "error=x&error_description=" + strings.Repeat("d", 513) + "&state=" + cbState, fail: true},
}

func TestParseCallback(t *testing.T) {
	for _, tt := range callbackTests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			cb, err := ParseCallback(q)
			if !tt.fail {
				if err != nil {
					t.Fatalf("ParseCallback: %v", err)
				}
				if cb != tt.want {
					t.Errorf("callback = %+v, want %+v", cb, tt.want)
				}
				return
			}
			if ReasonOf(err) != ReasonMalformed {
				t.Fatalf("err = %v, want malformed", err)
			}
			// With an error only the state comes back (when it alone is well-formed), so the
			// caller can consume the login it names.
			if cb.Code != "" || cb.Iss != "" || cb.Error != "" || cb.ErrorDescription != "" {
				t.Errorf("callback returned with an error: %+v", cb)
			}
			for _, v := range q {
				for _, s := range v {
					if len(s) >= 8 && strings.Contains(err.Error(), s) {
						t.Errorf("error quotes a parameter value: %v", err)
					}
				}
			}
		})
	}
}

// FuzzParseCallback: ParseCallback never panics, and what it accepts obeys its rules.
func FuzzParseCallback(f *testing.F) {
	for _, tt := range callbackTests {
		f.Add(tt.query)
	}
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		cb, err := ParseCallback(q)
		if err != nil {
			if ReasonOf(err) != ReasonMalformed {
				t.Fatalf("err = %v, want malformed", err)
			}
			return
		}
		if cb.State == "" || (cb.Code == "") == (cb.Error == "") {
			t.Fatalf("accepted %+v", cb)
		}
		for name, v := range map[string]string{"code": cb.Code, "state": cb.State, "iss": cb.Iss, "error": cb.Error, "error_description": cb.ErrorDescription} {
			if len(q[name]) > 1 {
				t.Fatalf("accepted repeated %s", name)
			}
			for i := range len(v) {
				if v[i] < 0x20 || v[i] > 0x7e {
					t.Fatalf("accepted %s with byte %#x", name, v[i])
				}
			}
		}
		if err := cb.check(); err != nil {
			t.Fatalf("accepted callback fails its own check: %v", err)
		}
	})
}

func TestParseFrontChannelLogout(t *testing.T) {
	q, _ := url.ParseQuery("iss=" + url.QueryEscape(cbIss) + "&sid=abc-123")
	iss, sid, err := ParseFrontChannelLogout(q)
	if err != nil || iss != cbIss || sid != "abc-123" {
		t.Fatalf("= %q, %q, %v", iss, sid, err)
	}
	for _, bad := range []string{"", "iss=a", "sid=a", "iss=a&sid=", "iss=a&iss=a&sid=b", "iss=a&sid=b%0A", "iss=a&sid=" + strings.Repeat("s", 256)} {
		q, _ := url.ParseQuery(bad)
		if _, _, err := ParseFrontChannelLogout(q); ReasonOf(err) != ReasonMalformed {
			t.Errorf("%q: err = %v, want malformed", bad, err)
		}
	}
}
