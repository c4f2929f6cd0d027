package oidc

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/eidsp/eidsp/identity"
)

// FuzzIDToken feeds arbitrary ID tokens through verification and claim mapping, seeded with a
// valid token and the attacks of TestExchangeRejects. It must never panic, every refusal must be
// an *Error of a known class, and what it accepts must be a token our test OP signed.
func FuzzIDToken(f *testing.F) {
	op := newTestOP(f, AuthClientSecretBasic)
	p := newProvider(f, op, "idporten", nil)
	st := p.cur.Load()
	k := keys()[0]
	nonce := "fuzz-nonce"
	claims := func() map[string]any {
		return map[string]any{
			"iss": op.issuer, "sub": "s", "aud": opClientID, "nonce": nonce,
			"exp": testStart.Add(time.Minute).Unix(), "iat": testStart.Unix(),
			"pid": testFNR, "acr": identity.ACRHigh, "amr": []string{"BankID"}, "sid": "x",
		}
	}
	valid := signJWT(f, k.priv, k.kid, jose.RS256, claims())
	f.Add(valid)
	f.Add(unsignedJWT(k.kid, claims()))
	f.Add(signJWT(f, publicKeyBytes(f, &k.priv.PublicKey), k.kid, jose.HS256, claims()))
	f.Add(signJWT(f, keys()[1].priv, k.kid, jose.RS256, claims()))
	f.Add(signJWT(f, k.priv, "", jose.RS256, map[string]any{"iss": op.issuer, "aud": []any{opClientID, 1}}))
	parts := strings.Split(valid, ".")
	f.Add(`{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`)
	f.Add(parts[0] + ".." + parts[2])
	f.Add("e30.e30.")

	known := map[Reason]bool{ReasonMalformed: true, ReasonSignature: true, ReasonAlgorithm: true, ReasonIssuer: true,
		ReasonAudience: true, ReasonTime: true, ReasonInResponseTo: true}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := p.verifyIDToken(context.Background(), st, raw, nonce, testStart)
		if err != nil {
			if !known[ReasonOf(err)] {
				t.Fatalf("err = %v: unexpected class", err)
			}
			if strings.Contains(err.Error(), testFNR) {
				t.Fatalf("error contains the national id: %v", err)
			}
			return
		}
		// Only the OP's key could have signed it, so its payload is one of the seeds'.
		jws, perr := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
		if perr != nil {
			t.Fatalf("accepted a token go-jose cannot parse: %v", perr)
		}
		if _, verr := jws.Verify(&k.priv.PublicKey); verr != nil {
			t.Fatalf("accepted a token the OP's key does not verify: %v", verr)
		}
		if c["nonce"] != nonce || c["iss"] != op.issuer {
			t.Fatalf("accepted claims %v", c)
		}
		_, _ = identity.MapClaims(c, identity.ClaimOptions{Preset: identity.OIDCIDPorten, Now: testStart})
	})
}

// FuzzCheckClaims: checkClaims never panics on any JSON object, and accepts only claims with our
// iss, our client among the audiences, our nonce and sane times.
func FuzzCheckClaims(f *testing.F) {
	e := expectations{issuer: "https://idporten.no", clientID: "c", nonce: "n", now: testStart, skew: time.Minute}
	good := map[string]any{"iss": e.issuer, "aud": "c", "nonce": "n", "exp": testStart.Unix() + 60, "iat": testStart.Unix()}
	b, _ := json.Marshal(good)
	f.Add(b)
	f.Add([]byte(`{"iss":"https://idporten.no","aud":["c","d"],"azp":"c","nonce":"n","exp":1e300,"iat":-1}`))
	f.Add([]byte(`{"iss":"https://idporten.no","aud":["c",null],"nonce":"n","exp":"1","iat":1.5}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var c map[string]any
		if dec.Decode(&c) != nil {
			return
		}
		if err := checkClaims(c, e); err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("err = %v: not an *Error", err)
			}
			return
		}
		if c["iss"] != e.issuer || c["nonce"] != e.nonce {
			t.Fatalf("accepted iss/nonce: %v", c)
		}
		exp, ok := identity.NumericDate(c["exp"])
		if !ok || !testStart.Before(time.Unix(exp, 0).Add(e.skew)) {
			t.Fatalf("accepted exp %v", c["exp"])
		}
	})
}
