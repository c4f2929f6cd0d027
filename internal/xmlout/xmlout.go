// Package xmlout serializes etree trees: the messages eidsp signs and sends, and the metadata
// it publishes.
//
// It writes what etree's own writer writes with its default settings (empty elements as
// <x/>, double-quoted attributes, the same escapes, invalid characters as U+FFFD), with one
// difference: a tab, line feed or carriage return in an attribute value, and a carriage return
// in text, are written as character references. A parser normalizes those characters when
// they are written as they are (an attribute's whitespace to spaces, CR LF to LF), so what it
// reads back would differ from the tree, and a signature computed over the tree (whose
// canonical form escapes them) would not verify. What a parser reads back from this writer's
// output is the tree.
//
// It does not allocate per element or per attribute, where etree's writer joined each prefix
// and name into a new string and decoded every character of every value.
package xmlout

import (
	"bytes"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// Write appends the serialization of t to b: an element with everything under it, text, or a
// comment, processing instruction or directive as etree writes them.
func Write(b *bytes.Buffer, t etree.Token) {
	switch t := t.(type) {
	case *etree.Element:
		element(b, t)
		return
	case *etree.CharData:
		if !t.IsCData() {
			escape(b, t.Data, false)
			return
		}
	}
	t.WriteTo(b, &etree.WriteSettings{})
}

// Document appends every token of doc: its declaration, its root and the whitespace an
// Indent put between them.
func Document(b *bytes.Buffer, doc *etree.Document) {
	for _, t := range doc.Child {
		Write(b, t)
	}
}

// Bytes returns Document's serialization of doc.
func Bytes(doc *etree.Document) []byte {
	var b bytes.Buffer
	Document(&b, doc)
	return b.Bytes()
}

func element(b *bytes.Buffer, e *etree.Element) {
	b.WriteByte('<')
	name(b, e.Space, e.Tag)
	for i := range e.Attr {
		a := &e.Attr[i]
		b.WriteByte(' ')
		name(b, a.Space, a.Key)
		b.WriteString(`="`)
		escape(b, a.Value, true)
		b.WriteByte('"')
	}
	if len(e.Child) == 0 {
		b.WriteString("/>")
		return
	}
	b.WriteByte('>')
	for _, c := range e.Child {
		Write(b, c)
	}
	b.WriteString("</")
	name(b, e.Space, e.Tag)
	b.WriteByte('>')
}

func name(b *bytes.Buffer, space, local string) {
	if space != "" {
		b.WriteString(space)
		b.WriteByte(':')
	}
	b.WriteString(local)
}

// escapes holds, for each ASCII byte, what to write instead of it ("" for the byte itself);
// attrEscapes are the same with tab and line feed, which a parser would turn into spaces.
var escapes, attrEscapes = func() (text, attr [utf8.RuneSelf]string) {
	for c := range byte(0x20) {
		text[c] = "\uFFFD" // control characters are not XML characters
	}
	text['\t'], text['\n'] = "", ""
	text['&'], text['<'], text['>'], text['\''], text['"'] = "&amp;", "&lt;", "&gt;", "&apos;", "&quot;"
	text['\r'] = "&#xD;"
	attr = text
	attr['\t'], attr['\n'] = "&#x9;", "&#xA;"
	return text, attr
}()

// escape writes s with etree's escapes (& < > ' "), and in an attribute value also TAB, LF
// and CR, in text CR, as character references; a character XML cannot carry (a control
// character, an invalid UTF-8 byte, U+FFFE or U+FFFF) becomes U+FFFD, as etree writes it.
func escape(b *bytes.Buffer, s string, attr bool) {
	table := &escapes
	if attr {
		table = &attrEscapes
	}
	last := 0
	for i := 0; i < len(s); {
		var esc string
		width := 1
		if c := s[i]; c < utf8.RuneSelf {
			if esc = table[c]; esc == "" {
				i++
				continue
			}
		} else {
			var r rune
			r, width = utf8.DecodeRuneInString(s[i:])
			if (r != utf8.RuneError || width > 1) && r != 0xFFFE && r != 0xFFFF {
				i += width
				continue
			}
			esc = "\uFFFD"
		}
		b.WriteString(s[last:i])
		b.WriteString(esc)
		i += width
		last = i
	}
	b.WriteString(s[last:])
}
