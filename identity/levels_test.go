package identity

import "testing"

func TestLevelFromClassRef(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     int
	}{
		{"ok/password-protected-transport", ClassRefPasswordProtectedTransport, 3},
		{"ok/unspecified", ClassRefUnspecified, 3},
		{"ok/smartcard-pki", ClassRefSmartcardPKI, 4},
		{"ok/surrounding-whitespace", "\n  " + ClassRefSmartcardPKI + "\n", 4},
		{"fail/empty", "", 0},
		{"fail/password", "urn:oasis:names:tc:SAML:2.0:ac:classes:Password", 0},
		{"fail/case", "urn:oasis:names:tc:SAML:2.0:ac:classes:smartcardpki", 0},
		{"fail/eidas-loa", LoAHigh, 0},
		{"fail/inner-space", "urn:oasis:names:tc:SAML:2.0:ac:classes: SmartcardPKI", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := LevelFromClassRef(tt.in)
			if ok != (tt.want != 0) || got != tt.want {
				t.Errorf("LevelFromClassRef = %d, %v; want %d", got, ok, tt.want)
			}
		})
	}
}

func TestLevelFromLoA(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     int
	}{
		{"ok/substantial", LoASubstantial, 3},
		{"ok/high", LoAHigh, 4},
		{"fail/low", "http://eidas.europa.eu/LoA/low", 0},
		{"fail/https", "https://eidas.europa.eu/LoA/high", 0},
		{"fail/class-ref", ClassRefSmartcardPKI, 0},
		{"fail/empty", "", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := LevelFromLoA(tt.in)
			if ok != (tt.want != 0) || got != tt.want {
				t.Errorf("LevelFromLoA = %d, %v; want %d", got, ok, tt.want)
			}
		})
	}
}

func TestLevelFromACR(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     int
	}{
		{"ok/substantial", ACRSubstantial, 3},
		{"ok/high", ACRHigh, 4},
		{"fail/low", "idporten-loa-low", 0},
		{"fail/old-level", "Level4", 0},
		{"fail/bankid", "urn:bankid:bid;LOA=4", 0},
		{"fail/empty", "", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := LevelFromACR(tt.in)
			if ok != (tt.want != 0) || got != tt.want {
				t.Errorf("LevelFromACR = %d, %v; want %d", got, ok, tt.want)
			}
		})
	}
}

func TestLevelRoundTrip(t *testing.T) {
	for _, level := range []int{Level3, Level4} {
		if got, ok := LevelFromClassRef(ClassRefForLevel(level)); !ok || got != level {
			t.Errorf("class ref round trip of %d gave %d, %v", level, got, ok)
		}
		if got, ok := LevelFromLoA(LoAForLevel(level)); !ok || got != level {
			t.Errorf("LoA round trip of %d gave %d, %v", level, got, ok)
		}
		if got, ok := LevelFromACR(ACRForLevel(level)); !ok || got != level {
			t.Errorf("acr round trip of %d gave %d, %v", level, got, ok)
		}
	}
	for _, level := range []int{0, 1, 2, 5, -3} {
		if ClassRefForLevel(level) != "" || LoAForLevel(level) != "" || ACRForLevel(level) != "" {
			t.Errorf("level %d has a mapping", level)
		}
	}
}
