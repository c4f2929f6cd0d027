package saml

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"time"

	"github.com/beevik/etree"
)

// Artifact is a SAML 2.0 type 0x0004 artifact (SAML bindings §3.6.4).
type Artifact struct {
	EndpointIndex int
	SourceID      [20]byte // SHA-1 of the issuer's entityID
	MessageHandle [20]byte
}

const artifactTypeCode = 0x0004

// ParseArtifact decodes the SAMLart value.
func ParseArtifact(s string) (Artifact, error) {
	var a Artifact
	if len(s) > 100 {
		return a, reject(ReasonArtifact, "artifact too long")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return a, reject(ReasonArtifact, "artifact is not base64")
	}
	if len(b) != 44 {
		return a, reject(ReasonArtifact, "artifact has %d bytes, want 44", len(b))
	}
	if binary.BigEndian.Uint16(b[0:2]) != artifactTypeCode {
		return a, reject(ReasonArtifact, "artifact type 0x%04x is not 0x0004", binary.BigEndian.Uint16(b[0:2]))
	}
	a.EndpointIndex = int(binary.BigEndian.Uint16(b[2:4]))
	copy(a.SourceID[:], b[4:24])
	copy(a.MessageHandle[:], b[24:44])
	return a, nil
}

// String encodes the artifact as it travels in SAMLart.
func (a Artifact) String() string {
	b := make([]byte, 44)
	binary.BigEndian.PutUint16(b[0:2], artifactTypeCode)
	binary.BigEndian.PutUint16(b[2:4], uint16(a.EndpointIndex))
	copy(b[4:24], a.SourceID[:])
	copy(b[24:44], a.MessageHandle[:])
	return base64.StdEncoding.EncodeToString(b)
}

// SourceID is the artifact SourceID of an entity.
func SourceID(entityID string) [20]byte { return sha1.Sum([]byte(entityID)) }

// ResolutionEndpoint picks the IdP's SOAP ArtifactResolutionService for the artifact: the one
// with the artifact's index, else the only or default one. The artifact must come from this IdP.
func (d *IdPDescriptor) ResolutionEndpoint(a Artifact) (Endpoint, error) {
	if a.SourceID != SourceID(d.EntityID) {
		return Endpoint{}, reject(ReasonArtifact, "artifact was not issued by %s", d.EntityID)
	}
	var soap []Endpoint
	for _, e := range d.ArtifactResolution {
		if e.Binding == BindingSOAP {
			soap = append(soap, e)
		}
	}
	for _, e := range soap {
		if e.Index == a.EndpointIndex {
			return e, nil
		}
	}
	for _, e := range soap {
		if e.IsDefault || len(soap) == 1 {
			return e, nil
		}
	}
	return Endpoint{}, reject(ReasonArtifact, "IdP metadata has no SOAP ArtifactResolutionService")
}

// ArtifactResolve builds the signed SOAP envelope that asks for the message behind artifact.
func (s Signer) ArtifactResolve(id, issuer, destination, artifact string, now time.Time) ([]byte, error) {
	ar := etree.NewElement("samlp:ArtifactResolve")
	ar.CreateAttr("xmlns:samlp", NSProtocol)
	ar.CreateAttr("xmlns:saml", NSAssertion)
	ar.CreateAttr("ID", id)
	ar.CreateAttr("Version", "2.0")
	ar.CreateAttr("IssueInstant", FormatTime(now))
	ar.CreateAttr("Destination", destination)
	ar.CreateElement("saml:Issuer").SetText(issuer)
	ar.CreateElement("samlp:Artifact").SetText(artifact)
	signed, err := s.SignEnveloped(ar)
	if err != nil {
		return nil, err
	}
	return SOAPEnvelope(signed)
}

// SOAPEnvelope wraps el in a SOAP 1.1 envelope.
func SOAPEnvelope(el *etree.Element) ([]byte, error) {
	env := etree.NewElement("soapenv:Envelope")
	env.CreateAttr("xmlns:soapenv", NSSOAP11)
	env.CreateElement("soapenv:Body").AddChild(el)
	return Marshal(env), nil
}

// SOAPClient posts SOAP messages to an IdP's back channel.
type SOAPClient struct {
	HTTP     *http.Client // must have a timeout
	MaxBytes int64        // cap on the response body
}

// MaxIdleSOAPConns is how many idle connections to one IdP's back channel a SOAPClient from
// NewSOAPClient keeps: as many as an instance has artifact resolutions in flight at a busy
// moment. net/http's default of two made every resolution beyond the second in flight open
// (and then close) a TCP and TLS connection of its own.
const MaxIdleSOAPConns = 64

// NewSOAPClient is a SOAPClient with its own transport (proxy from the environment as
// net/http's default, MaxIdleSOAPConns idle connections per IdP) and the given timeout.
func NewSOAPClient(timeout time.Duration, maxBytes int64) SOAPClient {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = MaxIdleSOAPConns
	t.MaxIdleConns = 4 * MaxIdleSOAPConns
	return SOAPClient{HTTP: &http.Client{Transport: t, Timeout: timeout}, MaxBytes: maxBytes}
}

// Call posts envelope to url and returns the response body. A SOAP fault, a non-200 status, an
// oversized or unreachable answer is a ReasonTransport error.
func (c SOAPClient) Call(ctx context.Context, url string, envelope []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(envelope))
	if err != nil {
		return nil, reject(ReasonTransport, "request: %v", err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", "http://www.oasis-open.org/committees/security")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, reject(ReasonTransport, "artifact resolution: %v", err)
	}
	defer resp.Body.Close()
	body, err := ReadAll(resp.Body, resp.ContentLength, c.MaxBytes)
	if err != nil {
		return nil, reject(ReasonTransport, "reading SOAP response: %v", err)
	}
	if int64(len(body)) > c.MaxBytes {
		return nil, reject(ReasonTooLarge, "SOAP response exceeds %d bytes", c.MaxBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, reject(ReasonTransport, "artifact resolution answered HTTP %d", resp.StatusCode)
	}
	return body, nil
}

// soapBody parses an untrusted SOAP envelope and returns the single element of its Body.
func soapBody(data []byte, lim Limits) (*etree.Element, error) {
	doc, err := ParseUntrusted(data, lim)
	if err != nil {
		return nil, err
	}
	if err := uniqueIDs(doc.Root()); err != nil {
		return nil, err
	}
	env := doc.Root()
	if env.Tag != "Envelope" || env.NamespaceURI() != NSSOAP11 {
		return nil, reject(ReasonMalformed, "not a SOAP 1.1 envelope")
	}
	body, err := only(env, NSSOAP11, "Body")
	if err != nil {
		return nil, reject(ReasonMalformed, "%v", err)
	}
	kids := body.ChildElements()
	if len(kids) != 1 {
		return nil, reject(ReasonMalformed, "SOAP Body holds %d elements, want 1", len(kids))
	}
	if kids[0].Tag == "Fault" && kids[0].NamespaceURI() == NSSOAP11 {
		return nil, reject(ReasonTransport, "SOAP fault: %.200s", kids[0].FindElement("faultstring").Text())
	}
	return kids[0], nil
}

// uniqueIDs refuses documents in which two elements carry the same ID: the signature-wrapping
// families depend on a second element with the signed ID.
func uniqueIDs(root *etree.Element) error {
	seen := map[string]bool{}
	var walk func(*etree.Element) error
	walk = func(e *etree.Element) error {
		for _, a := range e.Attr {
			if a.Key == "ID" || a.Key == "Id" || a.Key == "AssertionID" {
				if a.Space != "" {
					return reject(ReasonMalformed, "prefixed ID attribute %s:%s", a.Space, a.Key)
				}
				if seen[a.Value] {
					return reject(ReasonSignature, "duplicate ID %q", a.Value)
				}
				seen[a.Value] = true
			}
		}
		for c := range e.ChildElementsSeq() {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(root)
}
