package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// wire is one simulated browser: its keep-alive connections, one per host, each exchange
// written and read on the caller's goroutine, and its cookies.
//
// It speaks the HTTP/1.1 a browser needs here and no more: requests written by hand, responses
// read with a status line, headers, and a body by Content-Length or chunked. net/http's client
// runs two goroutines per connection and hands every exchange between them, and its request
// writer, response reader and cookie jar build maps, header values and cookie structs that the
// login never looks at; in a benchmark whose clients share the machine with the servers they
// measure, that is CPU taken from the servers (benchmark 1's profile had the clients at a
// tenth of everything besides RSA with net/http's reader and a real jar). The
// servers are net/http's, so what they answer is checked by what reads it here: an answer this
// reader cannot parse fails the login.
//
// Cookies are kept per host name without the port, as browsers do (the SP and the IdP share
// 127.0.0.1), and sent on every path (a few bytes more than a browser would send); one with
// Max-Age 0 or less is deleted (net/http's server deletes a cookie so).
type wire struct {
	cookies map[string]map[string]string // host name → cookie name → value
	conns   map[string]*wireConn         // by host:port
	req     []byte                       // the request being written
}

type wireConn struct {
	c  net.Conn
	br *bufio.Reader
}

// wireResponse is what the login looks at in an answer.
type wireResponse struct {
	status   int
	location string
	body     []byte
	close    bool // Connection: close
}

func newWire() *wire {
	return &wire{cookies: map[string]map[string]string{}, conns: map[string]*wireConn{}}
}

// reset forgets the cookies (the next login is a new user) but keeps the connections.
func (w *wire) reset() { clear(w.cookies) }

// cookie is the value of the cookie name the browser holds for host (host:port or host).
func (w *wire) cookie(hostPort, name string) string { return w.cookies[hostName(hostPort)][name] }

func (w *wire) close() {
	for host, wc := range w.conns {
		wc.c.Close()
		delete(w.conns, host)
	}
}

// get is a GET that does not follow redirects: status, Location and body.
func (w *wire) get(u string) (int, string, string, error) {
	r, err := w.do("GET", u, "", nil)
	if err != nil {
		return 0, "", "", err
	}
	return r.status, r.location, string(r.body), nil
}

// postForm is a form POST (form already encoded) that does not follow redirects: status and
// Location.
func (w *wire) postForm(u, form string) (int, string, error) {
	r, err := w.do("POST", u, "application/x-www-form-urlencoded", []byte(form))
	if err != nil {
		return 0, "", err
	}
	return r.status, r.location, nil
}

// do sends one request and reads its answer. A kept-alive connection the server has closed
// meanwhile is redialled once.
func (w *wire) do(method, rawURL, contentType string, body []byte) (wireResponse, error) {
	rest, ok := strings.CutPrefix(rawURL, "http://")
	if !ok {
		return wireResponse{}, fmt.Errorf("wire: %q is not an http:// URL", rawURL)
	}
	host, path := rest, "/"
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		host, path = rest[:i], rest[i:]
	}
	if i := strings.IndexByte(path, '#'); i >= 0 {
		path = path[:i]
	}
	w.writeRequest(method, host, path, contentType, body)
	for {
		wc, reused, err := w.conn(host)
		if err != nil {
			return wireResponse{}, err
		}
		r, unanswered, err := w.exchange(wc, host)
		if err != nil {
			wc.c.Close()
			delete(w.conns, host)
			// Sent again, on a new connection (so once), only if the server cannot have acted
			// on it: a kept-alive connection it had closed, which answered nothing at all. A
			// second POST of the IdP's form or a second use of an artifact would fail as a
			// replay and hide the first error.
			if reused && unanswered {
				continue
			}
			return wireResponse{}, err
		}
		if r.close {
			wc.c.Close()
			delete(w.conns, host)
		}
		return r, nil
	}
}

func (w *wire) writeRequest(method, host, path, contentType string, body []byte) {
	b := append(w.req[:0], method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nUser-Agent: eidspbench\r\n"...)
	if jar := w.cookies[hostName(host)]; len(jar) > 0 {
		b = append(b, "Cookie: "...)
		first := true
		for name, value := range jar {
			if !first {
				b = append(b, "; "...)
			}
			first = false
			b = append(b, name...)
			b = append(b, '=')
			b = append(b, value...)
		}
		b = append(b, "\r\n"...)
	}
	if body != nil {
		b = append(b, "Content-Type: "...)
		b = append(b, contentType...)
		b = append(b, "\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	w.req = append(b, body...)
}

func (w *wire) conn(host string) (*wireConn, bool, error) {
	if wc := w.conns[host]; wc != nil {
		return wc, true, nil
	}
	c, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		return nil, false, err
	}
	wc := &wireConn{c: c, br: bufio.NewReaderSize(c, 16<<10)}
	w.conns[host] = wc
	return wc, false, nil
}

var errMalformed = errors.New("wire: malformed response")

// exchange writes the request and reads its answer. unanswered: the connection failed before a
// byte of an answer came (so the server did not act on the request, if it was kept alive).
func (w *wire) exchange(wc *wireConn, host string) (r wireResponse, unanswered bool, err error) {
	wc.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := wc.c.Write(w.req); err != nil {
		return r, true, err
	}
	if _, err := wc.br.Peek(1); err != nil {
		return r, errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET), err
	}
	for {
		r, err = w.readResponse(wc.br, host)
		// An interim answer (1xx; none is asked for, since no Expect is sent) precedes the
		// real one.
		if err != nil || r.status >= 200 {
			return r, false, err
		}
	}
}

func (w *wire) readResponse(br *bufio.Reader, host string) (wireResponse, error) {
	var r wireResponse
	line, err := br.ReadSlice('\n')
	if err != nil {
		return r, err
	}
	// "HTTP/1.1 302 Found\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return r, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	if r.status, err = strconv.Atoi(string(line[9:12])); err != nil || r.status < 100 {
		return r, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	r.close = line[7] == '0' // HTTP/1.0
	length, chunked := -1, false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return r, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return r, fmt.Errorf("%w: header line %q", errMalformed, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case headerIs(name, "Content-Length"):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return r, fmt.Errorf("%w: Content-Length %q", errMalformed, value)
			}
		case headerIs(name, "Transfer-Encoding"):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case headerIs(name, "Connection"):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				r.close = r.close || bytes.EqualFold(bytes.TrimSpace(tok), []byte("close"))
			}
		case headerIs(name, "Location"):
			r.location = string(value)
		case headerIs(name, "Set-Cookie"):
			w.setCookie(host, value)
		}
	}
	switch {
	case r.status == 204 || r.status == 304 || r.status < 200:
	case chunked:
		r.body, err = readChunked(br)
	case length >= 0:
		r.body = make([]byte, length)
		_, err = io.ReadFull(br, r.body)
	default:
		r.close = true
		r.body, err = io.ReadAll(br)
	}
	return r, err
}

// readChunked reads a chunked body (RFC 9112, 7.1) and its trailer.
func readChunked(br *bufio.Reader) ([]byte, error) {
	var body []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseUint(string(bytes.TrimSpace(size)), 16, 31)
		if err != nil {
			return nil, fmt.Errorf("%w: chunk size %q", errMalformed, line)
		}
		if n == 0 {
			for { // the trailer, up to its blank line
				line, err := br.ReadSlice('\n')
				if err != nil {
					return nil, err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return body, nil
				}
			}
		}
		start := len(body)
		body = append(body, make([]byte, n)...)
		if _, err := io.ReadFull(br, body[start:]); err != nil {
			return nil, err
		}
		if crlf, err := br.ReadSlice('\n'); err != nil || len(bytes.TrimRight(crlf, "\r\n")) != 0 {
			return nil, fmt.Errorf("%w: no CRLF after a chunk", errMalformed)
		}
	}
}

// setCookie keeps (or deletes) the cookie a Set-Cookie header value sets for host.
func (w *wire) setCookie(hostPort string, header []byte) {
	pair, attrs, _ := bytes.Cut(header, []byte(";"))
	name, value, ok := bytes.Cut(pair, []byte("="))
	name = bytes.TrimSpace(name)
	if !ok || len(name) == 0 {
		return
	}
	value = bytes.TrimSpace(value) // sent back as it came, quotes included, as browsers do
	deleted := false
	for len(attrs) > 0 && !deleted {
		var attr []byte
		attr, attrs, _ = bytes.Cut(attrs, []byte(";"))
		k, v, _ := bytes.Cut(bytes.TrimSpace(attr), []byte("="))
		if headerIs(k, "Max-Age") {
			n, err := strconv.Atoi(string(v))
			deleted = err == nil && n <= 0
		}
	}
	host := hostName(hostPort)
	jar := w.cookies[host]
	if deleted {
		delete(jar, string(name))
		return
	}
	if jar == nil {
		jar = map[string]string{}
		w.cookies[host] = jar
	}
	jar[string(name)] = string(value)
}

func headerIs(name []byte, want string) bool { return bytes.EqualFold(name, []byte(want)) }

// hostName is host:port without the port.
func hostName(hostPort string) string {
	if h, _, err := net.SplitHostPort(hostPort); err == nil {
		return h
	}
	return hostPort
}
