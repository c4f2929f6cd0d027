package devidp

import (
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/beevik/etree"

	"github.com/eidsp/eidsp/saml"
)

// issuedArtifact is a Response waiting behind an artifact. The Response itself is built only on
// resolution, because with ID-porten's InResponseTo rule it must answer the ArtifactResolve.
type issuedArtifact struct {
	out     *outcome
	expires time.Time
}

// issueArtifact stores o behind a fresh type 0x0004 artifact: endpoint index 0 (our one
// ArtifactResolutionService), SourceID the SHA-1 of our entityID, a 20-byte random handle.
func (i *IdP) issueArtifact(o *outcome) (string, error) {
	art := saml.Artifact{EndpointIndex: 0, SourceID: saml.SourceID(i.cfg.EntityID)}
	if _, err := io.ReadFull(i.cfg.Rand, art.MessageHandle[:]); err != nil {
		return "", fmt.Errorf("devidp: randomness: %w", err)
	}
	now := i.now()
	i.mu.Lock()
	defer i.mu.Unlock()
	for k, v := range i.artifacts {
		if !now.Before(v.expires) {
			delete(i.artifacts, k)
		}
	}
	i.artifacts[art.MessageHandle] = &issuedArtifact{out: o, expires: now.Add(i.cfg.ArtifactTTL)}
	return art.String(), nil
}

// redeem returns the outcome behind an artifact for sp and forgets it: an artifact resolves once.
// It returns nil for an artifact that is malformed, unknown, expired, already resolved or issued
// to another SP; that SP's artifact is left in place for its rightful owner.
func (i *IdP) redeem(value string, sp *serviceProvider) *outcome {
	art, err := saml.ParseArtifact(value)
	if err != nil || art.SourceID != saml.SourceID(i.cfg.EntityID) {
		return nil
	}
	now := i.now()
	i.mu.Lock()
	defer i.mu.Unlock()
	e := i.artifacts[art.MessageHandle]
	if e == nil || e.out.req.sp.entityID != sp.entityID {
		return nil
	}
	delete(i.artifacts, art.MessageHandle)
	if !now.Before(e.expires) {
		return nil
	}
	return e.out
}

// serveArtifactResolve is the SOAP ArtifactResolutionService. The ArtifactResolve must be signed
// by a registered SP; anything else is a SOAP fault (HTTP 500, as SOAP 1.1 requires for faults).
//
// An artifact that is unknown, expired, already resolved or another SP's gets a signed
// ArtifactResponse with Status Success and no message, as SAML core §3.5 and bindings §3.6.5 ask,
// rather than a fault: the SP then sees an empty answer and refuses the login.
func (i *IdP) serveArtifactResolve(w http.ResponseWriter, r *http.Request) {
	limit := int64(saml.DefaultLimits().MaxBytes)
	body, err := saml.ReadAll(http.MaxBytesReader(w, r.Body, limit), r.ContentLength, limit)
	if err != nil {
		i.fault(w, "soapenv:Client", "request too large or unreadable", err)
		return
	}
	// The claimed Issuer only picks the certificates that must then verify the message.
	var sp *serviceProvider
	id, issuer, artifact, err := saml.ParseArtifactResolve(body, func(claimed string) []*x509.Certificate {
		if sp = i.lookupSP(claimed); sp == nil {
			return nil
		}
		return sp.signingCerts
	}, algorithms(), saml.DefaultLimits())
	if err != nil && sp == nil && saml.ReasonOf(err) == saml.ReasonSignature {
		i.fault(w, "soapenv:Client", "ArtifactResolve from an unknown service provider", err)
		return
	}
	if err != nil {
		i.fault(w, "soapenv:Client", "ArtifactResolve rejected: "+string(saml.ReasonOf(err)), err)
		return
	}
	if issuer != sp.entityID {
		i.fault(w, "soapenv:Client", "ArtifactResolve rejected: issuer", nil)
		return
	}
	o := i.redeem(artifact, sp)
	now := i.now()
	respID, err := saml.NewID(i.cfg.Rand)
	if err != nil {
		i.fault(w, "soapenv:Server", "internal error", err)
		return
	}
	ar := etree.NewElement("samlp:ArtifactResponse")
	ar.CreateAttr("xmlns:samlp", saml.NSProtocol)
	ar.CreateAttr("xmlns:saml", saml.NSAssertion)
	ar.CreateAttr("ID", respID)
	ar.CreateAttr("Version", "2.0")
	ar.CreateAttr("IssueInstant", saml.FormatTime(now))
	ar.CreateAttr("InResponseTo", id)
	ar.CreateElement("saml:Issuer").SetText(i.cfg.EntityID)
	addStatus(ar, []string{saml.StatusSuccess})
	if o != nil {
		irt := o.req.id
		if i.cfg.InResponseTo == saml.InResponseToArtifactResolve {
			irt = id
		}
		resp, err := i.response(o, irt)
		if err != nil {
			i.fault(w, "soapenv:Server", "internal error", err)
			return
		}
		ar.AddChild(resp)
	}
	signed, err := i.cfg.Signer.SignEnveloped(ar)
	if err != nil {
		i.fault(w, "soapenv:Server", "internal error", err)
		return
	}
	env, err := saml.SOAPEnvelope(signed)
	if err != nil {
		i.fault(w, "soapenv:Server", "internal error", err)
		return
	}
	i.cfg.Logger.Info("devidp: artifact resolution", "sp", sp.entityID, "found", o != nil)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(env)))
	w.Write(env)
}

// fault answers with a SOAP 1.1 fault. msg is fixed text (plus a saml.Reason); err goes to the log.
func (i *IdP) fault(w http.ResponseWriter, code, msg string, err error) {
	i.cfg.Logger.Warn("devidp: artifact resolution refused", "fault", msg, "err", err)
	f := etree.NewElement("soapenv:Fault")
	f.CreateElement("faultcode").SetText(code)
	f.CreateElement("faultstring").SetText(msg)
	env, _ := saml.SOAPEnvelope(f)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	w.Write(env)
}
