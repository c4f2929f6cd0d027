package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// The benchmark's browser reads what net/http's server writes: bodies by length and chunked,
// redirects, cookies set and deleted, a connection the server closes.
func TestWire(t *testing.T) {
	big := strings.Repeat("0123456789", 2000) // more than net/http buffers: sent chunked
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/set":
			http.SetCookie(w, &http.Cookie{Name: "a", Value: "1", Path: "/x"})
			http.SetCookie(w, &http.Cookie{Name: "b", Value: "2"})
			http.Redirect(w, r, "/next?q=1", http.StatusFound)
		case "/echo":
			io.WriteString(w, r.Header.Get("Cookie"))
		case "/del":
			http.SetCookie(w, &http.Cookie{Name: "a", MaxAge: -1})
		case "/big":
			io.WriteString(w, big)
		case "/chunks": // three chunks
			for _, part := range []string{"one ", "two ", "three"} {
				io.WriteString(w, part)
				w.(http.Flusher).Flush()
			}
		case "/hints": // an interim answer before the real one
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, "after hints")
		case "/form":
			r.ParseForm()
			w.Header().Set("Connection", "close")
			http.Redirect(w, r, "/done?"+url.QueryEscape(r.Method+" "+r.Header.Get("Content-Type")+" "+r.PostForm.Get("k")), http.StatusFound)
		}
	}))
	defer srv.Close()
	c := newWire()
	defer c.close()

	status, loc, _, err := c.get(srv.URL + "/set")
	if err != nil || status != http.StatusFound || loc != "/next?q=1" {
		t.Fatalf("/set: %d %q %v", status, loc, err)
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	if c.cookie(host, "a") != "1" || c.cookie(host, "b") != "2" {
		t.Errorf("cookies after /set: %v", c.cookies)
	}
	if _, _, body, err := c.get(srv.URL + "/echo"); err != nil || (body != "a=1; b=2" && body != "b=2; a=1") {
		t.Errorf("/echo: %q %v", body, err)
	}
	if _, _, _, err := c.get(srv.URL + "/del"); err != nil || c.cookie(host, "a") != "" || c.cookie(host, "b") != "2" {
		t.Errorf("after /del: %v %v", c.cookies, err)
	}
	if status, _, body, err := c.get(srv.URL + "/big"); err != nil || status != http.StatusOK || body != big {
		t.Errorf("/big: %d, %d bytes, %v", status, len(body), err)
	}
	if _, _, body, err := c.get(srv.URL + "/chunks"); err != nil || body != "one two three" {
		t.Errorf("/chunks: %q %v", body, err)
	}
	if status, _, body, err := c.get(srv.URL + "/hints"); err != nil || status != http.StatusOK || body != "after hints" {
		t.Errorf("/hints: %d %q %v", status, body, err)
	}
	if len(c.conns) != 1 {
		t.Errorf("%d connections after six exchanges, want one kept alive", len(c.conns))
	}
	// The server closes the idle connection: the next request is sent again on a new one.
	srv.CloseClientConnections()
	if _, _, body, err := c.get(srv.URL + "/echo"); err != nil || body != "b=2" {
		t.Errorf("/echo after the server closed the connection: %q %v", body, err)
	}
	status, loc, err = c.postForm(srv.URL+"/form", "k=v+w")
	if want := "/done?" + url.QueryEscape("POST application/x-www-form-urlencoded v w"); err != nil || status != http.StatusFound || loc != want {
		t.Errorf("/form: %d %q %v, want 302 to %q", status, loc, err, want)
	}
	if len(c.conns) != 0 {
		t.Errorf("the connection the server closed is kept")
	}
	if _, _, body, err := c.get(srv.URL + "/echo"); err != nil || body != "b=2" {
		t.Errorf("/echo on a new connection: %q %v", body, err)
	}
	c.reset()
	if _, _, body, err := c.get(srv.URL + "/echo"); err != nil || body != "" {
		t.Errorf("/echo after reset: %q %v", body, err)
	}
	if _, _, _, err := c.get("https://example.org/"); err == nil {
		t.Error("an https URL was accepted")
	}
}
