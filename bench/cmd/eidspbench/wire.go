package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// wire is one simulated browser's keep-alive connections, one per host, each exchange written
// and read on the caller's goroutine. net/http's client runs two goroutines per connection and
// hands every exchange between them; in a benchmark whose clients share the machine with the
// servers they measure, that is CPU taken from the servers. The parsing is net/http's own
// (Request.Write, ReadResponse), and cookies go through a real cookie jar.
type wire struct {
	jar   http.CookieJar
	conns map[string]*wireConn // by host:port
}

type wireConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func newWire() *wire { return &wire{conns: map[string]*wireConn{}} }

// reset forgets the cookies (the next login is a new user) but keeps the connections.
func (w *wire) reset(jar http.CookieJar) { w.jar = jar }

func (w *wire) close() {
	for host, wc := range w.conns {
		wc.c.Close()
		delete(w.conns, host)
	}
}

// do sends the request newReq builds and returns the response with its body read. A kept-alive
// connection the server has closed meanwhile is redialled once, with a fresh request.
func (w *wire) do(newReq func() (*http.Request, error)) (*http.Response, []byte, error) {
	for attempt := 0; ; attempt++ {
		req, err := newReq()
		if err != nil {
			return nil, nil, err
		}
		wc, reused, err := w.conn(req.URL.Host)
		if err != nil {
			return nil, nil, err
		}
		resp, body, err := w.exchange(wc, req)
		if err != nil {
			wc.c.Close()
			delete(w.conns, req.URL.Host)
			if reused && attempt == 0 {
				continue
			}
			return nil, nil, err
		}
		if resp.Close {
			wc.c.Close()
			delete(w.conns, req.URL.Host)
		}
		return resp, body, nil
	}
}

func (w *wire) conn(host string) (*wireConn, bool, error) {
	if wc := w.conns[host]; wc != nil {
		return wc, true, nil
	}
	c, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		return nil, false, err
	}
	wc := &wireConn{c: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 4<<10)}
	w.conns[host] = wc
	return wc, false, nil
}

func (w *wire) exchange(wc *wireConn, req *http.Request) (*http.Response, []byte, error) {
	for _, ck := range w.jar.Cookies(req.URL) {
		req.AddCookie(ck)
	}
	wc.c.SetDeadline(time.Now().Add(30 * time.Second))
	if err := req.Write(wc.bw); err != nil {
		return nil, nil, err
	}
	if err := wc.bw.Flush(); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(wc.br, req)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, nil, err
	}
	if cks := resp.Cookies(); len(cks) > 0 {
		w.jar.SetCookies(req.URL, cks)
	}
	return resp, body, nil
}

// get is a GET that does not follow redirects: status, Location and body.
func (w *wire) get(u string) (int, string, string, error) {
	resp, body, err := w.do(func() (*http.Request, error) { return http.NewRequest(http.MethodGet, u, nil) })
	if err != nil {
		return 0, "", "", err
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(body), nil
}

// postForm is a form POST that does not follow redirects: status and Location.
func (w *wire) postForm(u string, form url.Values) (int, string, error) {
	enc := form.Encode()
	resp, _, err := w.do(func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(enc))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		return req, err
	})
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode, resp.Header.Get("Location"), nil
}
