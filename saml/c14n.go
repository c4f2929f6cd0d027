package saml

import (
	"slices"
	"strings"
	"sync"

	"github.com/beevik/etree"
)

// Exclusive XML Canonicalization 1.0 without comments (https://www.w3.org/TR/xml-exc-c14n/),
// the only canonicalization checkSignatureShape lets through, written straight from the parsed
// tree: no copy of the tree, no second parse. Its differential oracle is goxmldsig's
// canonicalizer (FuzzCanonicalizeDifferential).

// excC14N appends the canonical form of el to dst, leaving out the subtree skip (the enveloped
// signature; nil for none). inclusive is the InclusiveNamespaces PrefixList, "#default" standing
// for the default namespace.
func excC14N(dst []byte, el, skip *etree.Element, inclusive []string) ([]byte, error) {
	c := c14nStates.Get().(*c14n)
	defer c.release()
	c.buf, c.skip = dst, skip
	for _, p := range inclusive {
		if p == "#default" {
			p = ""
		}
		c.inclusive = append(c.inclusive, p)
	}
	// The apex's namespace context: what its ancestors declare, nearest first wins.
	for a := el.Parent(); a != nil; a = a.Parent() {
		c.chain = append(c.chain, a)
	}
	c.scope = append(c.scope, nsBinding{"xml", nsXML})
	for i := len(c.chain) - 1; i >= 0; i-- {
		c.scope = appendDecls(c.scope, c.chain[i])
	}
	if err := c.element(el); err != nil {
		return nil, err
	}
	return c.buf, nil
}

type c14n struct {
	buf       []byte
	skip      *etree.Element
	inclusive []string
	chain     []*etree.Element // the apex's ancestors, nearest first
	scope     []nsBinding      // in-scope declarations of the input, innermost last
	rendered  []nsBinding      // declarations written to the output, innermost last
	decls     []nsBinding      // scratch: this element's declarations to write
	attrs     []c14nAttr       // scratch
}

// c14nStates recycles the scratch space of canonicalization: every signature made or checked
// canonicalizes twice.
var c14nStates = sync.Pool{New: func() any { return new(c14n) }}

// release empties c, keeping its slices' room but no reference into a document or the output,
// and returns it to the pool.
func (c *c14n) release() {
	c.buf, c.skip = nil, nil
	clear(c.inclusive)
	clear(c.chain)
	clear(c.scope)
	clear(c.rendered)
	clear(c.decls)
	clear(c.attrs)
	c.inclusive, c.chain, c.scope = c.inclusive[:0], c.chain[:0], c.scope[:0]
	c.rendered, c.decls, c.attrs = c.rendered[:0], c.decls[:0], c.attrs[:0]
	c14nStates.Put(c)
}

// c14nBuffers recycles the canonical forms, which are hashed and dropped.
var c14nBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

func getC14NBuffer() *[]byte { return c14nBuffers.Get().(*[]byte) }

func putC14NBuffer(p *[]byte, b []byte) {
	if cap(b) <= maxPooledBuffer {
		*p = b[:0]
		c14nBuffers.Put(p)
	}
}

type c14nAttr struct {
	uri string
	a   *etree.Attr
}

func appendDecls(scope []nsBinding, el *etree.Element) []nsBinding {
	for _, a := range el.Attr {
		switch {
		case a.Space == "xmlns":
			scope = append(scope, nsBinding{a.Key, a.Value})
		case a.Space == "" && a.Key == "xmlns":
			scope = append(scope, nsBinding{"", a.Value})
		}
	}
	return scope
}

func lookup(bs []nsBinding, prefix string) (string, bool) {
	for i := len(bs) - 1; i >= 0; i-- {
		if bs[i].prefix == prefix {
			return bs[i].uri, true
		}
	}
	return "", false
}

func (c *c14n) element(el *etree.Element) error {
	// Namespace declarations are repeated on every element that uses them, so a small input can
	// canonicalize to a large output; it is bounded before it costs memory.
	if len(c.buf) > maxCanonicalOutputSize {
		return reject(ReasonTooLarge, "canonical form larger than %d bytes", maxCanonicalOutputSize)
	}
	scopeMark, renderedMark := len(c.scope), len(c.rendered)
	c.scope = appendDecls(c.scope, el)

	// Namespace declarations: the prefixes el visibly uses, and those of the inclusive list in
	// scope, each written unless the nearest output ancestor wrote the same binding.
	declMark := len(c.decls)
	consider := func(prefix string, mustBind bool) error {
		if prefix == "xml" {
			return nil
		}
		for _, d := range c.decls[declMark:] {
			if d.prefix == prefix {
				return nil
			}
		}
		uri, ok := lookup(c.scope, prefix)
		if !ok && prefix != "" {
			if mustBind {
				return reject(ReasonMalformed, "unbound prefix %q", prefix)
			}
			return nil
		}
		if have, _ := lookup(c.rendered, prefix); have == uri {
			return nil
		}
		c.decls = append(c.decls, nsBinding{prefix, uri})
		return nil
	}
	if err := consider(el.Space, true); err != nil {
		return err
	}
	c.attrs = c.attrs[:0]
	for i := range el.Attr {
		a := &el.Attr[i]
		if a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
			continue
		}
		uri := ""
		if a.Space != "" {
			if err := consider(a.Space, true); err != nil {
				return err
			}
			if a.Space == "xml" {
				uri = nsXML
			} else {
				uri, _ = lookup(c.scope, a.Space)
			}
		}
		c.attrs = append(c.attrs, c14nAttr{uri, a})
	}
	for _, p := range c.inclusive {
		if err := consider(p, false); err != nil {
			return err
		}
	}
	decls := c.decls[declMark:]
	slices.SortFunc(decls, func(x, y nsBinding) int { return strings.Compare(x.prefix, y.prefix) })
	attrs := c.attrs
	slices.SortFunc(attrs, func(x, y c14nAttr) int {
		if r := strings.Compare(x.uri, y.uri); r != 0 {
			return r
		}
		return strings.Compare(x.a.Key, y.a.Key)
	})

	c.buf = append(c.buf, '<')
	c.buf = appendQName(c.buf, el.Space, el.Tag)
	for _, d := range decls {
		if d.prefix == "" {
			c.buf = append(c.buf, ` xmlns="`...)
		} else {
			c.buf = append(c.buf, " xmlns:"...)
			c.buf = append(c.buf, d.prefix...)
			c.buf = append(c.buf, `="`...)
		}
		c.buf = appendEscaped(c.buf, d.uri, true)
		c.buf = append(c.buf, '"')
	}
	for _, x := range attrs {
		c.buf = append(c.buf, ' ')
		c.buf = appendQName(c.buf, x.a.Space, x.a.Key)
		c.buf = append(c.buf, `="`...)
		c.buf = appendEscaped(c.buf, x.a.Value, true)
		c.buf = append(c.buf, '"')
	}
	c.buf = append(c.buf, '>')
	c.rendered = append(c.rendered, decls...)
	c.decls = c.decls[:declMark]

	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.Element:
			if t == c.skip {
				continue
			}
			if err := c.element(t); err != nil {
				return err
			}
		case *etree.CharData:
			c.buf = appendEscaped(c.buf, t.Data, false)
		case *etree.Comment:
		default:
			// ParseUntrusted admits nothing else inside an element.
			return reject(ReasonMalformed, "%T inside a signed element", t)
		}
	}
	c.buf = append(c.buf, "</"...)
	c.buf = appendQName(c.buf, el.Space, el.Tag)
	c.buf = append(c.buf, '>')
	c.scope = c.scope[:scopeMark]
	c.rendered = c.rendered[:renderedMark]
	return nil
}

func appendQName(b []byte, space, local string) []byte {
	if space != "" {
		b = append(b, space...)
		b = append(b, ':')
	}
	return append(b, local...)
}

// appendEscaped escapes text (attr false) or an attribute value (attr true) as C14N requires.
func appendEscaped(b []byte, s string, attr bool) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			if attr {
				continue
			}
			esc = "&gt;"
		case '"':
			if !attr {
				continue
			}
			esc = "&quot;"
		case '\t':
			if !attr {
				continue
			}
			esc = "&#x9;"
		case '\n':
			if !attr {
				continue
			}
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		last = i + 1
	}
	return append(b, s[last:]...)
}
