package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var testOIDCNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// idportenClaims is a typical level-4 ID-porten ID token payload as a decoder with UseNumber
// produces it; edit applies a test case's changes.
func idportenClaims(edit func(c map[string]any)) map[string]any {
	c := map[string]any{
		"iss":       "https://idporten.no",
		"sub":       "pairwise-sub-1",
		"aud":       "client-1",
		"pid":       testFNR,
		"acr":       ACRHigh,
		"amr":       []any{"BankID"},
		"sid":       "sid-123",
		"locale":    "nb",
		"auth_time": json.Number("1772366000"),
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func bankIDClaims(edit func(c map[string]any)) map[string]any {
	c := map[string]any{
		"iss":         "https://auth.current.bankid.no/auth/realms/current",
		"sub":         "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d",
		"acr":         ACRBankIDHigh,
		"amr":         []any{"BID"},
		"nnin_altsub": testFNR,
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func set(name string, v any) func(c map[string]any) {
	return func(c map[string]any) { c[name] = v }
}

func del(name string) func(c map[string]any) {
	return func(c map[string]any) { delete(c, name) }
}

func idportenOpts() ClaimOptions {
	return ClaimOptions{Preset: OIDCIDPorten, IdP: "idporten-oidc", Now: testOIDCNow}
}

func bankIDOpts(nnin bool) ClaimOptions {
	return ClaimOptions{Preset: OIDCBankID, IdP: "bankid", NNINRequested: nnin, Now: testOIDCNow}
}

func TestMapClaims(t *testing.T) {
	tests := []struct {
		name   string
		claims map[string]any
		opt    ClaimOptions
		want   func(t *testing.T, id Identity) // ok cases
		err    error                           // fail cases: sentinel for errors.Is
		claim  string                          // fail cases: claim named by the *AttributeError
	}{
		{
			name:   "ok/idporten-level-4",
			claims: idportenClaims(nil),
			opt:    func() ClaimOptions { o := idportenOpts(); o.OnBehalfOf = "sub-org_1"; return o }(),
			want: func(t *testing.T, id Identity) {
				want := Identity{
					NationalID:      testFNR,
					Kind:            KindFNR,
					Instrument:      InstrumentUnknown,
					Level:           4,
					LoA:             LoAHigh,
					AuthMethod:      "BankID",
					IdP:             "idporten-oidc",
					SessionIndex:    "sid-123",
					NameID:          "pairwise-sub-1",
					Culture:         "nb",
					OnBehalfOf:      "sub-org_1",
					AuthenticatedAt: time.Unix(1772366000, 0).UTC(),
				}
				if id != want {
					t.Errorf("identity =\n%+v\nwant\n%+v", id, want)
				}
			},
		},
		{
			name:   "ok/idporten-level-3-minid",
			claims: idportenClaims(func(c map[string]any) { c["acr"] = ACRSubstantial; c["amr"] = []any{"MinID-PIN"} }),
			opt:    idportenOpts(),
			want: func(t *testing.T, id Identity) {
				if id.Level != 3 || id.LoA != LoASubstantial || id.AuthMethod != "MinID-PIN" {
					t.Errorf("Level, LoA, AuthMethod = %d, %q, %q", id.Level, id.LoA, id.AuthMethod)
				}
			},
		},
		{
			name:   "ok/amr-several-joined",
			claims: idportenClaims(set("amr", []any{"TestID", "Buypass", "TestID"})),
			opt:    idportenOpts(),
			want:   wantAuthMethod("TestID,Buypass"),
		},
		{
			name:   "ok/amr-absent",
			claims: idportenClaims(del("amr")),
			opt:    idportenOpts(),
			want:   wantAuthMethod(""),
		},
		{
			name:   "ok/no-auth-time-uses-now",
			claims: idportenClaims(del("auth_time")),
			opt:    idportenOpts(),
			want: func(t *testing.T, id Identity) {
				if !id.AuthenticatedAt.Equal(testOIDCNow) {
					t.Errorf("AuthenticatedAt = %v", id.AuthenticatedAt)
				}
			},
		},
		{
			name:   "ok/auth-time-float64",
			claims: idportenClaims(set("auth_time", float64(1772366000.7))),
			opt:    idportenOpts(),
			want: func(t *testing.T, id Identity) {
				if id.AuthenticatedAt.Unix() != 1772366000 {
					t.Errorf("AuthenticatedAt = %v", id.AuthenticatedAt)
				}
			},
		},
		{
			name:   "ok/locale-region-reduced",
			claims: idportenClaims(set("locale", "nn-NO")),
			opt:    idportenOpts(),
			want:   wantCulture("nn"),
		},
		{
			name:   "ok/ui-locales-first",
			claims: idportenClaims(claimEdits(del("locale"), set("ui_locales", "en nb"))),
			opt:    idportenOpts(),
			want:   wantCulture("en"),
		},
		{
			name:   "ok/unknown-locale-dropped",
			claims: idportenClaims(set("locale", "de")),
			opt:    idportenOpts(),
			want:   wantCulture(""),
		},
		{
			name:   "ok/ill-typed-locale-dropped",
			claims: idportenClaims(set("locale", json.Number("1"))),
			opt:    idportenOpts(),
			want:   wantCulture(""),
		},
		{
			name:   "ok/no-sid",
			claims: idportenClaims(del("sid")),
			opt:    idportenOpts(),
			want: func(t *testing.T, id Identity) {
				if id.SessionIndex != "" {
					t.Errorf("SessionIndex = %q", id.SessionIndex)
				}
			},
		},
		{
			name:   "ok/synthetic-allowed",
			claims: idportenClaims(set("pid", testSyntheticFNR)),
			opt:    func() ClaimOptions { o := idportenOpts(); o.AllowSynthetic = true; return o }(),
			want: func(t *testing.T, id Identity) {
				if id.NationalID != testSyntheticFNR || id.Kind != KindSyntheticFNR {
					t.Errorf("NationalID, Kind = %q, %q", Mask(id.NationalID), id.Kind)
				}
			},
		},
		{
			name:   "ok/bankid-with-nnin-altsub",
			claims: bankIDClaims(nil),
			opt:    bankIDOpts(true),
			want: func(t *testing.T, id Identity) {
				if id.NationalID != testFNR || id.Kind != KindFNR || id.Subject != "" || id.Level != 4 || id.AuthMethod != "BankID" {
					t.Errorf("identity = %+v", id)
				}
				if id.NameID != "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d" {
					t.Errorf("NameID = %q", id.NameID)
				}
			},
		},
		{
			name:   "ok/bankid-scope-asked-claim-withheld",
			claims: bankIDClaims(del("nnin_altsub")),
			opt:    bankIDOpts(true),
			want:   wantSubjectOnly("9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"),
		},
		{
			name:   "ok/bankid-claim-ignored-when-not-asked",
			claims: bankIDClaims(nil),
			opt:    bankIDOpts(false),
			want:   wantSubjectOnly("9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"),
		},
		{
			name:   "ok/bankid-pid-not-a-national-id-source",
			claims: bankIDClaims(claimEdits(del("nnin_altsub"), set("pid", testFNR))),
			opt:    bankIDOpts(true),
			want:   wantSubjectOnly("9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"),
		},
		{
			name:   "ok/bankid-level-3",
			claims: bankIDClaims(set("acr", ACRBankIDSubstantial)),
			opt:    bankIDOpts(true),
			want: func(t *testing.T, id Identity) {
				if id.Level != 3 {
					t.Errorf("Level = %d", id.Level)
				}
			},
		},
		{
			name:   "ok/bankid-no-amr-is-bankid",
			claims: bankIDClaims(del("amr")),
			opt:    bankIDOpts(true),
			want:   wantAuthMethod("BankID"),
		},
		{
			name:   "ok/bankid-unknown-amr-kept",
			claims: bankIDClaims(set("amr", []any{"BID", "otp"})),
			opt:    bankIDOpts(true),
			want:   wantAuthMethod("BankID,otp"),
		},
		{
			name:   "ok/generic-eidas-acr",
			claims: idportenClaims(set("acr", LoASubstantial)),
			opt:    ClaimOptions{Preset: OIDCGeneric, Now: testOIDCNow},
			want:   func(t *testing.T, id Identity) { wantLevelOIDC(t, id, 3) },
		},
		{
			name:   "ok/generic-legacy-acr",
			claims: idportenClaims(set("acr", "Level4")),
			opt:    ClaimOptions{Preset: OIDCGeneric, Now: testOIDCNow},
			want:   func(t *testing.T, id Identity) { wantLevelOIDC(t, id, 4) },
		},
		{
			name:   "ok/generic-bankid-acr",
			claims: idportenClaims(set("acr", ACRBankIDSubstantial)),
			opt:    ClaimOptions{Preset: OIDCGeneric, Now: testOIDCNow},
			want:   func(t *testing.T, id Identity) { wantLevelOIDC(t, id, 3) },
		},

		{name: "fail/unknown-preset", claims: idportenClaims(nil), opt: ClaimOptions{Preset: "saml"}, err: ErrInvalidAttribute},
		{name: "fail/no-sub", claims: idportenClaims(del("sub")), opt: idportenOpts(), err: ErrMissingAttribute, claim: "sub"},
		{name: "fail/empty-sub", claims: idportenClaims(set("sub", "")), opt: idportenOpts(), err: ErrMissingAttribute, claim: "sub"},
		{name: "fail/sub-not-string", claims: idportenClaims(set("sub", json.Number("12"))), opt: idportenOpts(), err: ErrInvalidAttribute, claim: "sub"},
		{name: "fail/sub-too-long", claims: idportenClaims(set("sub", strings.Repeat("a", 256))), opt: idportenOpts(), err: ErrInvalidAttribute, claim: "sub"},
		{name: "fail/sub-with-newline", claims: idportenClaims(set("sub", "a\nb")), opt: idportenOpts(), err: ErrInvalidAttribute, claim: "sub"},
		{name: "fail/idporten-no-pid", claims: idportenClaims(del("pid")), opt: idportenOpts(), err: ErrMissingAttribute, claim: "pid"},
		{name: "fail/pid-null", claims: idportenClaims(set("pid", nil)), opt: idportenOpts(), err: ErrMissingAttribute, claim: "pid"},
		{name: "fail/pid-number", claims: idportenClaims(set("pid", json.Number(testFNR))), opt: idportenOpts(), err: ErrInvalidAttribute, claim: "pid"},
		{name: "fail/pid-array", claims: idportenClaims(set("pid", []any{testFNR})), opt: idportenOpts(), err: ErrInvalidAttribute, claim: "pid"},
		{name: "fail/pid-invalid", claims: idportenClaims(set("pid", "45678901234")), opt: idportenOpts(), err: ErrInvalidNationalID, claim: "pid"},
		{name: "fail/synthetic-refused", claims: idportenClaims(set("pid", testSyntheticFNR)), opt: idportenOpts(), err: ErrSyntheticNotAllowed, claim: "pid"},
		{name: "fail/synthetic-dnr-refused", claims: idportenClaims(set("pid", testSyntheticDNR)), opt: idportenOpts(), err: ErrSyntheticNotAllowed, claim: "pid"},
		{name: "fail/bankid-synthetic-refused", claims: bankIDClaims(set("nnin_altsub", testSyntheticFNR)), opt: bankIDOpts(true), err: ErrSyntheticNotAllowed, claim: "nnin_altsub"},
		{name: "fail/bankid-invalid-nnin", claims: bankIDClaims(set("nnin_altsub", "45678901234")), opt: bankIDOpts(true), err: ErrInvalidNationalID, claim: "nnin_altsub"},
		{name: "fail/no-acr", claims: idportenClaims(del("acr")), opt: idportenOpts(), err: ErrInvalidLevel, claim: "acr"},
		{name: "fail/acr-not-string", claims: idportenClaims(set("acr", json.Number("4"))), opt: idportenOpts(), err: ErrInvalidAttribute, claim: "acr"},
		{name: "fail/idporten-acr-low", claims: idportenClaims(set("acr", "idporten-loa-low")), opt: idportenOpts(), err: ErrInvalidLevel, claim: "acr"},
		{name: "fail/idporten-bankid-acr", claims: idportenClaims(set("acr", ACRBankIDHigh)), opt: idportenOpts(), err: ErrInvalidLevel, claim: "acr"},
		{name: "fail/bankid-idporten-acr", claims: bankIDClaims(set("acr", ACRHigh)), opt: bankIDOpts(true), err: ErrInvalidLevel, claim: "acr"},
		{name: "fail/generic-eidas-low", claims: idportenClaims(set("acr", loaLow)), opt: ClaimOptions{Preset: OIDCGeneric}, err: ErrInvalidLevel, claim: "acr"},
		{name: "fail/amr-string", claims: idportenClaims(set("amr", "BankID")), opt: idportenOpts(), err: ErrInvalidAttribute, claim: "amr"},
		{name: "fail/amr-number-entry", claims: idportenClaims(set("amr", []any{json.Number("1")})), opt: idportenOpts(), err: ErrInvalidAttribute, claim: "amr"},
		{name: "fail/amr-comma", claims: idportenClaims(set("amr", []any{"Bank,ID"})), opt: idportenOpts(), err: ErrInvalidAttribute, claim: "amr"},
		{name: "fail/amr-control", claims: idportenClaims(set("amr", []any{"Bank\x1bID"})), opt: idportenOpts(), err: ErrInvalidAttribute, claim: "amr"},
		{name: "fail/amr-empty-entry", claims: idportenClaims(set("amr", []any{""})), opt: idportenOpts(), err: ErrInvalidAttribute, claim: "amr"},
		{name: "fail/amr-too-many", claims: idportenClaims(set("amr", make([]any, 11))), opt: idportenOpts(), err: ErrInvalidAttribute, claim: "amr"},
		{name: "fail/amr-joined-too-long", claims: idportenClaims(set("amr", []any{strings.Repeat("a", 50), strings.Repeat("b", 50)})), opt: idportenOpts(), err: ErrInvalidAttribute, claim: "amr"},
		{name: "fail/sid-not-string", claims: idportenClaims(set("sid", true)), opt: idportenOpts(), err: ErrInvalidAttribute, claim: "sid"},
		{name: "fail/sid-with-space", claims: idportenClaims(set("sid", "a b")), opt: idportenOpts(), err: ErrInvalidAttribute, claim: "sid"},
		{name: "fail/auth-time-string", claims: idportenClaims(set("auth_time", "1772366000")), opt: idportenOpts(), err: ErrInvalidAttribute, claim: "auth_time"},
		{name: "fail/auth-time-negative", claims: idportenClaims(set("auth_time", json.Number("-1"))), opt: idportenOpts(), err: ErrInvalidAttribute, claim: "auth_time"},
		{name: "fail/auth-time-huge", claims: idportenClaims(set("auth_time", json.Number("1e300"))), opt: idportenOpts(), err: ErrInvalidAttribute, claim: "auth_time"},
		{
			name:   "fail/bad-on-behalf-of",
			claims: idportenClaims(nil),
			opt:    func() ClaimOptions { o := idportenOpts(); o.OnBehalfOf = "a b"; return o }(),
			err:    ErrInvalidAttribute, claim: "onbehalfof",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := MapClaims(tt.claims, tt.opt)
			if tt.want != nil {
				if err != nil {
					t.Fatalf("MapClaims: %v", err)
				}
				tt.want(t, id)
				return
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if id != (Identity{}) {
				t.Errorf("identity returned with an error: %+v", id)
			}
			var ae *AttributeError
			if tt.claim != "" && (!errors.As(err, &ae) || ae.Attribute != tt.claim) {
				t.Errorf("err = %v, want an AttributeError about %q", err, tt.claim)
			}
			assertNoClaimValues(t, err.Error(), tt.claims)
		})
	}
}

func TestOIDCPresetACR(t *testing.T) {
	for _, p := range []OIDCPreset{OIDCIDPorten, OIDCBankID} {
		for _, level := range []int{Level3, Level4} {
			acr := p.ACRForLevel(level)
			if got, ok := p.LevelFromACR(acr); !ok || got != level {
				t.Errorf("%s: LevelFromACR(ACRForLevel(%d)=%q) = %d, %v", p, level, acr, got, ok)
			}
			if got, ok := OIDCGeneric.LevelFromACR(acr); !ok || got != level {
				t.Errorf("generic: LevelFromACR(%q) = %d, %v", acr, got, ok)
			}
		}
		if acr := p.ACRForLevel(2); acr != "" {
			t.Errorf("%s: ACRForLevel(2) = %q", p, acr)
		}
	}
	if acr := OIDCGeneric.ACRForLevel(Level4); acr != "" {
		t.Errorf("generic: ACRForLevel(4) = %q, want none", acr)
	}
	if OIDCPreset("x").Valid() || !OIDCGeneric.Valid() {
		t.Error("Valid")
	}
	if _, ok := OIDCPreset("x").LevelFromACR(ACRHigh); ok {
		t.Error("unknown preset maps a level")
	}
}

func TestNumericDate(t *testing.T) {
	for _, tt := range []struct {
		in   any
		want int64
		ok   bool
	}{
		{json.Number("1772366000"), 1772366000, true},
		{json.Number("1772366000.9"), 1772366000, true},
		{json.Number("17e8"), 1700000000, true},
		{float64(12), 12, true},
		{json.Number("-1"), 0, false},
		{json.Number("1e20"), 0, false},
		{json.Number("x"), 0, false},
		{"12", 0, false},
		{nil, 0, false},
	} {
		got, ok := NumericDate(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NumericDate(%#v) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzMapClaims feeds arbitrary JSON, decoded as the oidc package decodes ID token payloads, to
// MapClaims. It must never panic; an identity it accepts must have a valid level and either a
// valid national id or (BankID) a subject, and no error may contain the national id.
func FuzzMapClaims(f *testing.F) {
	for _, c := range []map[string]any{idportenClaims(nil), bankIDClaims(nil), idportenClaims(set("pid", testSyntheticFNR))} {
		b, err := json.Marshal(c)
		if err != nil {
			f.Fatal(err)
		}
		for _, preset := range []string{"idporten", "bankid", "generic"} {
			f.Add(b, preset, true, false)
		}
	}
	f.Add([]byte(`{"sub":"s","pid":"`+testFNR+`","acr":"idporten-loa-high","amr":[1,"x"]}`), "idporten", false, true)
	f.Add([]byte(`{"sub":"s","acr":"urn:bankid:bid;LOA=4","nnin_altsub":null,"auth_time":1e999}`), "bankid", true, true)
	f.Fuzz(func(t *testing.T, data []byte, preset string, nnin, allowSynthetic bool) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var claims map[string]any
		if dec.Decode(&claims) != nil {
			return
		}
		opt := ClaimOptions{Preset: OIDCPreset(preset), IdP: "x", NNINRequested: nnin, AllowSynthetic: allowSynthetic, Now: testOIDCNow}
		id, err := MapClaims(claims, opt)
		if err != nil {
			if id != (Identity{}) {
				t.Fatalf("identity with error: %+v", id)
			}
			for _, name := range []string{ClaimPID, ClaimNNINAltSub} {
				if s, _ := claims[name].(string); len(s) >= 6 && strings.Contains(err.Error(), s) {
					t.Fatalf("error contains the %s claim: %v", name, err)
				}
			}
			return
		}
		if id.Level != Level3 && id.Level != Level4 || id.LoA == "" || id.NameID == "" {
			t.Fatalf("accepted identity without level or subject: %+v", id)
		}
		switch {
		case id.NationalID != "":
			kind, err := ParseNationalID(id.NationalID)
			if err != nil || kind != id.Kind || (kind.Synthetic() && !allowSynthetic) || id.Subject != "" {
				t.Fatalf("accepted bad national id: kind %q err %v subject %q", id.Kind, err, id.Subject)
			}
		case OIDCPreset(preset) != OIDCBankID || id.Subject == "":
			t.Fatalf("accepted identity without national id outside BankID: %+v", id)
		}
	})
}

func wantAuthMethod(want string) func(t *testing.T, id Identity) {
	return func(t *testing.T, id Identity) {
		t.Helper()
		if id.AuthMethod != want {
			t.Errorf("AuthMethod = %q, want %q", id.AuthMethod, want)
		}
	}
}

func wantCulture(want string) func(t *testing.T, id Identity) {
	return func(t *testing.T, id Identity) {
		t.Helper()
		if id.Culture != want {
			t.Errorf("Culture = %q, want %q", id.Culture, want)
		}
	}
}

func wantSubjectOnly(sub string) func(t *testing.T, id Identity) {
	return func(t *testing.T, id Identity) {
		t.Helper()
		if id.NationalID != "" || id.Kind != "" || id.Subject != sub || id.NameID != sub {
			t.Errorf("NationalID %q, Kind %q, Subject %q, NameID %q; want only subject %q",
				Mask(id.NationalID), id.Kind, id.Subject, id.NameID, sub)
		}
	}
}

func wantLevelOIDC(t *testing.T, id Identity, level int) {
	t.Helper()
	if id.Level != level || id.LoA != LoAForLevel(level) {
		t.Errorf("Level, LoA = %d, %q; want %d", id.Level, id.LoA, level)
	}
}

func claimEdits(fs ...func(c map[string]any)) func(c map[string]any) {
	return func(c map[string]any) {
		for _, f := range fs {
			f(c)
		}
	}
}

// assertNoClaimValues fails when an error text carries a national identity number or a subject.
func assertNoClaimValues(t *testing.T, msg string, claims map[string]any) {
	t.Helper()
	for _, name := range []string{"pid", "nnin_altsub", "sub"} {
		if s, _ := claims[name].(string); len(s) >= 6 && strings.Contains(msg, s) {
			t.Errorf("error text contains the %s claim: %s", name, msg)
		}
	}
}
