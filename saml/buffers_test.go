package saml

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/beevik/etree"
)

func TestReadAll(t *testing.T) {
	body := strings.Repeat("x", 3000)
	for _, c := range []struct {
		name             string
		r                io.Reader
		announced, limit int64
		want             int // bytes returned
		err              bool
	}{
		{"ok/announced-exactly", strings.NewReader(body), 3000, 10000, 3000, false},
		{"ok/nothing-announced", strings.NewReader(body), -1, 10000, 3000, false},
		{"ok/announced-too-little", strings.NewReader(body), 10, 10000, 3000, false},
		{"ok/announced-too-much", strings.NewReader(body), 9000, 10000, 3000, false},
		{"ok/one-byte-reads", iotest.OneByteReader(strings.NewReader(body)), 3000, 10000, 3000, false},
		{"ok/empty", strings.NewReader(""), 0, 10000, 0, false},
		{"ok/exactly-the-limit", strings.NewReader(body), 3000, 3000, 3000, false},
		{"fail/over-the-limit-cut-at-limit-plus-one", strings.NewReader(body), 3000, 2000, 2001, false},
		{"fail/over-the-limit-announced-more", strings.NewReader(body), 1 << 40, 2000, 2001, false},
		{"fail/read-error", iotest.TimeoutReader(strings.NewReader(body)), 3000, 10000, 3000, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ReadAll(c.r, c.announced, c.limit)
			if (err != nil) != c.err {
				t.Fatalf("err = %v, want error %v", err, c.err)
			}
			if c.err {
				if !errors.Is(err, iotest.ErrTimeout) {
					t.Errorf("err = %v, want the reader's error", err)
				}
				return
			}
			if len(got) != c.want || string(got) != body[:c.want] {
				t.Errorf("read %d bytes, want %d of the body", len(got), c.want)
			}
		})
	}
}

// Marshal writes what internal/xmlout writes (etree's serialization, with whitespace in
// attribute values as character references), and a pooled buffer keeps nothing of the
// message before.
func TestMarshalPooledBuffer(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{
			`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_a" Version="2.0"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">sp &amp; "co" &lt;x&gt;</saml:Issuer></samlp:LogoutRequest>`,
			`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_a" Version="2.0"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">sp &amp; &quot;co&quot; &lt;x&gt;</saml:Issuer></samlp:LogoutRequest>`,
		},
		{`<a b="1"/>`, `<a b="1"/>`},
		{`<a>` + strings.Repeat(`<b c="&#xA;&#x9;">t</b>`, 500) + `</a>`, `<a>` + strings.Repeat(`<b c="&#xA;&#x9;">t</b>`, 500) + `</a>`},
	} {
		doc := etree.NewDocument()
		if err := doc.ReadFromString(c.in); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if got := Marshal(doc.Root()); string(got) != c.want {
				t.Fatalf("Marshal =\n%s\nwant\n%s", got, c.want)
			}
		}
	}
}

// A recycled decompressor inflates the next message as a new one would, also after one that
// failed or was cut off at the limit.
func TestInflateRecycled(t *testing.T) {
	small, err := deflate([]byte("<a>small</a>"))
	if err != nil {
		t.Fatal(err)
	}
	big, err := deflate([]byte(strings.Repeat("<b>big</b>", 1000)))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := inflate(big, 100); err == nil {
			t.Fatal("inflate over the limit: no error")
		}
		if _, err := inflate([]byte("not deflate at all \xff\xff"), 100); err == nil {
			t.Fatal("inflate of garbage: no error")
		}
		if _, err := inflate(small[:len(small)/2], 100); err == nil {
			t.Fatal("inflate of a truncated stream: no error")
		}
		got, err := inflate(small, 100)
		if err != nil || string(got) != "<a>small</a>" {
			t.Fatalf("inflate = %q, %v", got, err)
		}
	}
}

// Concurrent artifact resolutions reuse their connections: a second burst as wide as the first
// opens none.
func TestSOAPClientKeepsConnections(t *testing.T) {
	var opened atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(5 * time.Millisecond) // keep the burst's calls in flight together
		w.Write([]byte("<ok/>"))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := NewSOAPClient(5*time.Second, 1<<20)
	const width = 16
	burst := func() {
		var wg sync.WaitGroup
		for range width {
			wg.Go(func() {
				if _, err := c.Call(context.Background(), srv.URL, []byte("<x/>")); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	burst()
	first := opened.Load()
	burst()
	// Every connection the client opened is kept for the next call: two bursts of width calls
	// never need more than width connections. (The first burst may open fewer, when a call
	// starts after another has finished on a loaded machine; the second then opens the rest.
	// A client that kept two idle connections, net/http's default, opens 2 × width − 2.)
	if total := opened.Load(); total > width {
		t.Errorf("two bursts of %d calls opened %d connections (the first %d); want at most %d", width, total, first, width)
	}
}
