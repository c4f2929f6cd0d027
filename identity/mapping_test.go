package identity

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	testFNR          = "31129956715"
	testSyntheticFNR = "20914695016"
	testSyntheticDNR = "41818500260"
)

var testInstant = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// idportenAssertion is a typical level-4 ID-porten login; edit applies a test case's changes.
func idportenAssertion(edit func(a *Assertion)) Assertion {
	a := Assertion{
		Attributes: map[string][]string{
			"uid":           {testFNR},
			"SecurityLevel": {"4"},
			"AuthMethod":    {"BankID"},
			"Culture":       {"nb"},
		},
		ClassRef:     ClassRefSmartcardPKI,
		SessionIndex: "s-123",
		NameID:       "nameid-1",
		NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
		IdP:          "idporten",
		AuthnInstant: testInstant,
	}
	if edit != nil {
		edit(&a)
	}
	return a
}

func setAttr(name string, values ...string) func(a *Assertion) {
	return func(a *Assertion) { a.Attributes[name] = values }
}

func delAttr(name string) func(a *Assertion) {
	return func(a *Assertion) { delete(a.Attributes, name) }
}

func edits(fs ...func(a *Assertion)) func(a *Assertion) {
	return func(a *Assertion) {
		for _, f := range fs {
			f(a)
		}
	}
}

type mapTest struct {
	name  string
	m     AttributeMap
	a     Assertion
	opt   MapOptions
	check func(t *testing.T, id Identity) // ok cases
	err   error                           // fail cases: sentinel for errors.Is
	attr  string                          // fail cases: attribute named by an *AttributeError, if any
}

var mapTests = []mapTest{
	{
		name: "ok/idporten-level-4",
		m:    PresetIDPorten(),
		a:    idportenAssertion(nil),
		check: func(t *testing.T, id Identity) {
			want := Identity{
				NationalID:      testFNR,
				Kind:            KindFNR,
				Instrument:      InstrumentUnknown,
				Level:           4,
				LoA:             LoAHigh,
				AuthMethod:      "BankID",
				IdP:             "idporten",
				SessionIndex:    "s-123",
				NameID:          "nameid-1",
				NameIDFormat:    "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
				Culture:         "nb",
				AuthenticatedAt: testInstant,
			}
			if !reflect.DeepEqual(id, want) {
				t.Errorf("identity =\n%+v\nwant\n%+v", id, want)
			}
		},
	},
	{
		name: "ok/idporten-level-3",
		m:    PresetIDPorten(),
		a: idportenAssertion(edits(setAttr("SecurityLevel", "3"), setAttr("AuthMethod", "Minid-PIN"),
			func(a *Assertion) { a.ClassRef = ClassRefPasswordProtectedTransport })),
		check: wantLevel(3, LoASubstantial),
	},
	{
		name:  "ok/level-attribute-with-unknown-class-ref",
		m:     PresetIDPorten(),
		a:     idportenAssertion(func(a *Assertion) { a.ClassRef = "urn:example:something-else" }),
		check: wantLevel(4, LoAHigh),
	},
	{
		name:  "ok/level-attribute-without-class-ref",
		m:     PresetIDPorten(),
		a:     idportenAssertion(func(a *Assertion) { a.ClassRef = "" }),
		check: wantLevel(4, LoAHigh),
	},
	{
		name:  "ok/level-from-class-ref-when-attribute-absent",
		m:     PresetIDPorten(),
		a:     idportenAssertion(delAttr("SecurityLevel")),
		check: wantLevel(4, LoAHigh),
	},
	{
		name:  "ok/level-attribute-empty-values-counts-as-absent",
		m:     PresetIDPorten(),
		a:     idportenAssertion(setAttr("SecurityLevel")),
		check: wantLevel(4, LoAHigh),
	},
	{
		name:  "ok/generic-level-from-class-ref",
		m:     PresetGeneric(),
		a:     idportenAssertion(func(a *Assertion) { a.ClassRef = ClassRefPasswordProtectedTransport }),
		check: wantLevel(3, LoASubstantial),
	},
	{
		name: "ok/generic-ignores-level-attribute",
		m:    PresetGeneric(),
		a: idportenAssertion(edits(setAttr("SecurityLevel", "bogus"),
			func(a *Assertion) { a.ClassRef = ClassRefUnspecified })),
		check: wantLevel(3, LoASubstantial),
	},
	{
		name:  "ok/generic-eidas-loa-as-class-ref",
		m:     PresetGeneric(),
		a:     idportenAssertion(func(a *Assertion) { a.ClassRef = LoAHigh }),
		check: wantLevel(4, LoAHigh),
	},
	{
		name: "ok/generic-ignores-culture",
		m:    PresetGeneric(),
		a:    idportenAssertion(setAttr("Culture", "xx")),
		check: func(t *testing.T, id Identity) {
			if id.Culture != "" {
				t.Errorf("Culture = %q", id.Culture)
			}
		},
	},
	{
		name: "ok/ips-instrument",
		m:    PresetIPS(),
		a:    idportenAssertion(edits(setAttr("Instrument", InstrumentPasswordOTP), setAttr("AuthMethod", "Buypass"))),
		check: func(t *testing.T, id Identity) {
			if id.Instrument != InstrumentPasswordOTP || id.AuthMethod != "Buypass" {
				t.Errorf("Instrument, AuthMethod = %q, %q", id.Instrument, id.AuthMethod)
			}
		},
	},
	{
		name:  "ok/ips-new-instrument-reported",
		m:     PresetIPS(),
		a:     idportenAssertion(setAttr("Instrument", "ips:FUTURE2PKI")),
		check: wantInstrument("ips:FUTURE2PKI"),
	},
	{
		name:  "ok/ips-no-instrument-is-unknown",
		m:     PresetIPS(),
		a:     idportenAssertion(setAttr("AuthMethod", "Buypass")),
		check: wantInstrument(InstrumentUnknown),
	},
	{
		name:  "ok/ips-empty-instrument-is-unknown",
		m:     PresetIPS(),
		a:     idportenAssertion(setAttr("Instrument", "")),
		check: wantInstrument(InstrumentUnknown),
	},
	{
		name:  "ok/instrument-never-guessed-from-auth-method",
		m:     PresetIDPorten(),
		a:     idportenAssertion(edits(setAttr("AuthMethod", "Buypass"), setAttr("Instrument", InstrumentSmartCard))),
		check: wantInstrument(InstrumentUnknown),
	},
	{
		name: "ok/unknown-auth-method-with-space-and-unicode",
		m:    PresetIDPorten(),
		a:    idportenAssertion(setAttr("AuthMethod", "BankID Mobil – ny")),
		check: func(t *testing.T, id Identity) {
			if id.AuthMethod != "BankID Mobil – ny" {
				t.Errorf("AuthMethod = %q", id.AuthMethod)
			}
		},
	},
	{
		name:  "ok/auth-method-100-bytes",
		m:     PresetIDPorten(),
		a:     idportenAssertion(setAttr("AuthMethod", strings.Repeat("a", 100))),
		check: func(t *testing.T, id Identity) {},
	},
	{
		name:  "ok/culture-se",
		m:     PresetIDPorten(),
		a:     idportenAssertion(setAttr("Culture", "se")),
		check: func(t *testing.T, id Identity) { wantString(t, "Culture", id.Culture, "se") },
	},
	{
		name:  "ok/culture-absent",
		m:     PresetIDPorten(),
		a:     idportenAssertion(delAttr("Culture")),
		check: func(t *testing.T, id Identity) { wantString(t, "Culture", id.Culture, "") },
	},
	{
		name:  "ok/on-behalf-of",
		m:     PresetIDPorten(),
		a:     idportenAssertion(setAttr("OnBehalfOf", "Service_Owner-42")),
		check: func(t *testing.T, id Identity) { wantString(t, "OnBehalfOf", id.OnBehalfOf, "Service_Owner-42") },
	},
	{
		name:  "ok/on-behalf-of-64",
		m:     PresetIDPorten(),
		a:     idportenAssertion(setAttr("OnBehalfOf", strings.Repeat("x", 64))),
		check: func(t *testing.T, id Identity) {},
	},
	{
		name: "ok/d-number",
		m:    PresetIDPorten(),
		a:    idportenAssertion(setAttr("uid", "41018500033")),
		check: func(t *testing.T, id Identity) {
			if id.Kind != KindDNumber {
				t.Errorf("Kind = %q", id.Kind)
			}
		},
	},
	{
		name: "ok/synthetic-allowed",
		m:    PresetIDPorten(),
		a:    idportenAssertion(setAttr("uid", testSyntheticFNR)),
		opt:  MapOptions{AllowSynthetic: true},
		check: func(t *testing.T, id Identity) {
			if id.Kind != KindSyntheticFNR || id.NationalID != testSyntheticFNR {
				t.Errorf("Kind, NationalID = %q, %q", id.Kind, id.NationalID)
			}
		},
	},
	{
		name:  "ok/synthetic-dnr-allowed",
		m:     PresetIDPorten(),
		a:     idportenAssertion(setAttr("uid", testSyntheticDNR)),
		opt:   MapOptions{AllowSynthetic: true},
		check: func(t *testing.T, id Identity) {},
	},
	{
		name:  "ok/other-attributes-ignored",
		m:     PresetIDPorten(),
		a:     idportenAssertion(setAttr("epostadresse", "a@example.no", "b@example.no")),
		check: func(t *testing.T, id Identity) {},
	},

	{name: "fail/national-id-missing", m: PresetIDPorten(), a: idportenAssertion(delAttr("uid")), err: ErrMissingAttribute, attr: "uid"},
	{name: "fail/national-id-no-values", m: PresetIDPorten(), a: idportenAssertion(setAttr("uid")), err: ErrMissingAttribute, attr: "uid"},
	{name: "fail/national-id-nil-attributes", m: PresetIDPorten(), a: Assertion{ClassRef: ClassRefSmartcardPKI}, err: ErrMissingAttribute, attr: "uid"},
	{name: "fail/national-id-two-values", m: PresetIDPorten(), a: idportenAssertion(setAttr("uid", testFNR, "03015561903")), err: ErrInvalidAttribute, attr: "uid"},
	{name: "fail/national-id-same-value-twice", m: PresetIDPorten(), a: idportenAssertion(setAttr("uid", testFNR, testFNR)), err: ErrInvalidAttribute, attr: "uid"},
	{name: "fail/national-id-invalid", m: PresetIDPorten(), a: idportenAssertion(setAttr("uid", "45678901234")), err: ErrInvalidNationalID, attr: "uid"},
	{name: "fail/national-id-wrong-check-digit", m: PresetIDPorten(), a: idportenAssertion(setAttr("uid", "31129956716")), err: ErrInvalidNationalID, attr: "uid"},
	{name: "fail/national-id-empty", m: PresetIDPorten(), a: idportenAssertion(setAttr("uid", "")), err: ErrInvalidNationalID, attr: "uid"},
	{name: "fail/national-id-padded", m: PresetIDPorten(), a: idportenAssertion(setAttr("uid", " "+testFNR)), err: ErrInvalidNationalID, attr: "uid"},
	{name: "fail/synthetic-not-allowed", m: PresetIDPorten(), a: idportenAssertion(setAttr("uid", testSyntheticFNR)), err: ErrSyntheticNotAllowed, attr: "uid"},
	{name: "fail/synthetic-dnr-not-allowed", m: PresetIDPorten(), a: idportenAssertion(setAttr("uid", testSyntheticDNR)), err: ErrSyntheticNotAllowed, attr: "uid"},
	{name: "fail/empty-map", m: AttributeMap{}, a: idportenAssertion(nil), err: ErrMissingAttribute},

	{name: "fail/level-5", m: PresetIDPorten(), a: idportenAssertion(setAttr("SecurityLevel", "5")), err: ErrInvalidLevel, attr: "SecurityLevel"},
	{name: "fail/level-padded", m: PresetIDPorten(), a: idportenAssertion(setAttr("SecurityLevel", " 4")), err: ErrInvalidLevel, attr: "SecurityLevel"},
	{name: "fail/level-leading-zero", m: PresetIDPorten(), a: idportenAssertion(setAttr("SecurityLevel", "04")), err: ErrInvalidLevel, attr: "SecurityLevel"},
	{name: "fail/level-empty-value", m: PresetIDPorten(), a: idportenAssertion(setAttr("SecurityLevel", "")), err: ErrInvalidLevel, attr: "SecurityLevel"},
	{name: "fail/level-two-values", m: PresetIDPorten(), a: idportenAssertion(setAttr("SecurityLevel", "4", "4")), err: ErrInvalidAttribute, attr: "SecurityLevel"},
	{
		name: "fail/level-attribute-disagrees-with-class-ref",
		m:    PresetIDPorten(),
		a:    idportenAssertion(func(a *Assertion) { a.ClassRef = ClassRefPasswordProtectedTransport }),
		err:  ErrInvalidLevel, attr: "SecurityLevel",
	},
	{
		name: "fail/level-attribute-disagrees-with-loa",
		m:    PresetIDPorten(),
		a:    idportenAssertion(edits(setAttr("SecurityLevel", "3"), func(a *Assertion) { a.ClassRef = LoAHigh })),
		err:  ErrInvalidLevel, attr: "SecurityLevel",
	},
	{
		name: "fail/no-level-at-all",
		m:    PresetIDPorten(),
		a:    idportenAssertion(edits(delAttr("SecurityLevel"), func(a *Assertion) { a.ClassRef = "" })),
		err:  ErrInvalidLevel,
	},
	{
		name: "fail/generic-unknown-class-ref",
		m:    PresetGeneric(),
		a:    idportenAssertion(func(a *Assertion) { a.ClassRef = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password" }),
		err:  ErrInvalidLevel,
	},
	{
		name: "fail/generic-eidas-low",
		m:    PresetGeneric(),
		a:    idportenAssertion(func(a *Assertion) { a.ClassRef = "http://eidas.europa.eu/LoA/low" }),
		err:  ErrInvalidLevel,
	},

	{
		name: "fail/eidas-low-with-level-attribute",
		m:    PresetIDPorten(),
		a:    idportenAssertion(func(a *Assertion) { a.ClassRef = "http://eidas.europa.eu/LoA/low" }),
		err:  ErrInvalidLevel,
	},

	{name: "fail/auth-method-two-values", m: PresetIDPorten(), a: idportenAssertion(setAttr("AuthMethod", "BankID", "Minid-PIN")), err: ErrInvalidAttribute, attr: "AuthMethod"},
	{name: "fail/auth-method-101-bytes", m: PresetIDPorten(), a: idportenAssertion(setAttr("AuthMethod", strings.Repeat("a", 101))), err: ErrInvalidAttribute, attr: "AuthMethod"},
	{name: "fail/auth-method-newline", m: PresetIDPorten(), a: idportenAssertion(setAttr("AuthMethod", "BankID\nforged log line")), err: ErrInvalidAttribute, attr: "AuthMethod"},
	{name: "fail/auth-method-nul", m: PresetIDPorten(), a: idportenAssertion(setAttr("AuthMethod", "Bank\x00ID")), err: ErrInvalidAttribute, attr: "AuthMethod"},
	{name: "fail/auth-method-escape", m: PresetIDPorten(), a: idportenAssertion(setAttr("AuthMethod", "\x1b[31mBankID")), err: ErrInvalidAttribute, attr: "AuthMethod"},
	{name: "fail/auth-method-c1-control", m: PresetIDPorten(), a: idportenAssertion(setAttr("AuthMethod", "Bank\u0085ID")), err: ErrInvalidAttribute, attr: "AuthMethod"},
	{name: "fail/auth-method-line-separator", m: PresetIDPorten(), a: idportenAssertion(setAttr("AuthMethod", "Bank\u2028ID")), err: ErrInvalidAttribute, attr: "AuthMethod"},
	{name: "fail/auth-method-invalid-utf8", m: PresetIDPorten(), a: idportenAssertion(setAttr("AuthMethod", "Bank\xffID")), err: ErrInvalidAttribute, attr: "AuthMethod"},
	{name: "fail/culture-unknown", m: PresetIDPorten(), a: idportenAssertion(setAttr("Culture", "de")), err: ErrInvalidAttribute, attr: "Culture"},
	{name: "fail/culture-upper-case", m: PresetIDPorten(), a: idportenAssertion(setAttr("Culture", "NB")), err: ErrInvalidAttribute, attr: "Culture"},
	{name: "fail/culture-region", m: PresetIDPorten(), a: idportenAssertion(setAttr("Culture", "nb-NO")), err: ErrInvalidAttribute, attr: "Culture"},
	{name: "fail/culture-two-values", m: PresetIDPorten(), a: idportenAssertion(setAttr("Culture", "nb", "en")), err: ErrInvalidAttribute, attr: "Culture"},
	{name: "fail/on-behalf-of-space", m: PresetIDPorten(), a: idportenAssertion(setAttr("OnBehalfOf", "service owner")), err: ErrInvalidAttribute, attr: "OnBehalfOf"},
	{name: "fail/on-behalf-of-65", m: PresetIDPorten(), a: idportenAssertion(setAttr("OnBehalfOf", strings.Repeat("x", 65))), err: ErrInvalidAttribute, attr: "OnBehalfOf"},
	{name: "fail/on-behalf-of-non-ascii", m: PresetIDPorten(), a: idportenAssertion(setAttr("OnBehalfOf", "tjenesteeier-ø")), err: ErrInvalidAttribute, attr: "OnBehalfOf"},
	{name: "fail/on-behalf-of-two-values", m: PresetIDPorten(), a: idportenAssertion(setAttr("OnBehalfOf", "a", "b")), err: ErrInvalidAttribute, attr: "OnBehalfOf"},
	{name: "fail/instrument-two-values", m: PresetIPS(), a: idportenAssertion(setAttr("Instrument", InstrumentSmartCard, InstrumentMobileApp)), err: ErrInvalidAttribute, attr: "Instrument"},
	{name: "fail/instrument-bad-characters", m: PresetIPS(), a: idportenAssertion(setAttr("Instrument", "ips:BPSC<script>")), err: ErrInvalidAttribute, attr: "Instrument"},
	{name: "fail/instrument-too-long", m: PresetIPS(), a: idportenAssertion(setAttr("Instrument", "ips:"+strings.Repeat("A", 61))), err: ErrInvalidAttribute, attr: "Instrument"},
}

func wantLevel(level int, loa string) func(t *testing.T, id Identity) {
	return func(t *testing.T, id Identity) {
		if id.Level != level || id.LoA != loa {
			t.Errorf("Level, LoA = %d, %q; want %d, %q", id.Level, id.LoA, level, loa)
		}
	}
}

func wantInstrument(instrument string) func(t *testing.T, id Identity) {
	return func(t *testing.T, id Identity) { wantString(t, "Instrument", id.Instrument, instrument) }
}

func wantString(t *testing.T, field, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", field, got, want)
	}
}

func TestMap(t *testing.T) {
	for _, tt := range mapTests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := tt.m.Map(tt.a, tt.opt)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("Map: %v", err)
				}
				tt.check(t, id)
				return
			}
			if err == nil {
				t.Fatalf("Map succeeded: %+v", id)
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v is not %v", err, tt.err)
			}
			if !reflect.DeepEqual(id, Identity{}) {
				t.Errorf("partial identity returned with error: %+v", id)
			}
			var ae *AttributeError
			if errors.As(err, &ae) != (tt.attr != "") || (ae != nil && ae.Attribute != tt.attr) {
				t.Errorf("error %v: want AttributeError for %q", err, tt.attr)
			}
			for _, vals := range tt.a.Attributes {
				for _, v := range vals {
					if len(v) >= 8 && strings.Contains(err.Error(), v) {
						t.Errorf("error text %q contains attribute value %q", err, v)
					}
				}
			}
		})
	}
}

func TestAttributeMapValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		m    AttributeMap
		want []string // substrings of the error; none for ok
	}{
		{"ok/idporten", PresetIDPorten(), nil},
		{"ok/ips", PresetIPS(), nil},
		{"ok/generic", PresetGeneric(), nil},
		{"fail/empty", AttributeMap{}, []string{"national id attribute name is required"}},
		{
			"fail/everything-at-once",
			AttributeMap{Level: "x", Culture: "x", Instrument: "uid", AuthMethod: "uid"},
			[]string{"required", `"x" used for both level and culture`, `"uid" used for both auth method and instrument`},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.m.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// FuzzMap feeds Map arbitrary attributes. The attributes travel as one string, "\x00"-separated:
// the ClassRef, then name/value pairs (a repeated name gives a multi-valued attribute).
func FuzzMap(f *testing.F) {
	presets := []AttributeMap{PresetIDPorten(), PresetIPS(), PresetGeneric()}
	for _, tt := range mapTests {
		preset := byte(0)
		for i, p := range presets {
			if p == tt.m {
				preset = byte(i)
			}
		}
		f.Add(encodeFuzzAssertion(tt.a), preset, tt.opt.AllowSynthetic)
	}
	f.Fuzz(func(t *testing.T, encoded string, preset byte, allowSynthetic bool) {
		m := presets[int(preset)%len(presets)]
		a := decodeFuzzAssertion(encoded)
		id, err := m.Map(a, MapOptions{AllowSynthetic: allowSynthetic})
		uid := a.Attributes[m.NationalID]
		if err != nil {
			if id != (Identity{}) {
				t.Fatalf("partial identity with error %v", err)
			}
			for _, v := range uid {
				if len(v) == 11 && strings.Contains(err.Error(), v) {
					t.Fatalf("error text contains the national id: %v", err)
				}
			}
			return
		}
		if len(uid) != 1 || id.NationalID != uid[0] {
			t.Fatalf("NationalID %q from attribute values %q", id.NationalID, uid)
		}
		if kind, err := ParseNationalID(id.NationalID); err != nil || kind != id.Kind {
			t.Fatalf("accepted national id of kind %q: %q, %v", id.Kind, kind, err)
		}
		if id.Kind.Synthetic() && !allowSynthetic {
			t.Fatal("accepted a synthetic person")
		}
		if (id.Level != 3 && id.Level != 4) || id.LoA != LoAForLevel(id.Level) {
			t.Fatalf("Level, LoA = %d, %q", id.Level, id.LoA)
		}
		if id.Instrument == "" {
			t.Fatal("empty Instrument")
		}
		if len(id.AuthMethod) > maxAuthMethodLen || checkAuthMethod(id.AuthMethod) != "" {
			t.Fatalf("accepted AuthMethod %q", id.AuthMethod)
		}
	})
}

func encodeFuzzAssertion(a Assertion) string {
	parts := []string{a.ClassRef}
	for name, vals := range a.Attributes {
		for _, v := range vals {
			parts = append(parts, name, v)
		}
	}
	return strings.Join(parts, "\x00")
}

func decodeFuzzAssertion(s string) Assertion {
	parts := strings.Split(s, "\x00")
	a := Assertion{ClassRef: parts[0], Attributes: map[string][]string{}}
	for i := 1; i+1 < len(parts); i += 2 {
		a.Attributes[parts[i]] = append(a.Attributes[parts[i]], parts[i+1])
	}
	return a
}
