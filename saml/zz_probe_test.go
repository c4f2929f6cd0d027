package saml

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"net/url"
	"testing"
	"time"
)

func TestZZSlo4000(t *testing.T) {
	doc := rvPrefixedAttrs(`samlp:LogoutRequest xmlns:samlp="`+NSProtocol+`"`, 4000) + `/>`
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	fw.Write([]byte(doc))
	fw.Close()
	q := ParamSAMLRequest + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	st := time.Now()
	m, err := ParseRedirect(q, 256<<10)
	if err == nil {
		_, err = PeekIssuer(m.XML, DefaultLimits())
	}
	t.Logf("query %d bytes: %v (%v)", len(q), time.Since(st), err)
}
