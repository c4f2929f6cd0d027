package handlers

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/eidsp/eidsp/saml"
	"github.com/eidsp/eidsp/session"
	"github.com/labstack/echo/v5"
)

// acsArtifact: GET /saml/acs?SAMLart=…&RelayState=… — resolve the artifact over the signed SOAP
// back channel and verify what comes back.
func (s *Server) acsArtifact(c *echo.Context) error {
	defer s.observeACS("artifact", time.Now())
	art := c.QueryParam("SAMLart")
	a, artErr := saml.ParseArtifact(art)
	if art == "" {
		artErr = &saml.Error{Reason: saml.ReasonArtifact, Err: errors.New("no SAMLart")}
	}
	// A well-formed artifact is claimed with the pending login, in one write: a second use
	// fails before anything is sent to the IdP.
	claim := ""
	if artErr == nil {
		claim = "artifact:" + art
	}
	pl, replayed, err := s.takePendingAndClaim(c, c.QueryParam("RelayState"), "/saml/acs", claim)
	if err != nil {
		return err
	}
	idp, err := s.pendingIdP(pl, saml.BindingHTTPArtifact)
	if err != nil {
		return err
	}
	if artErr != nil {
		return s.finishLogin(c, pl, idp, nil, artErr)
	}
	ep, err := idp.Policy.Descriptor.ResolutionEndpoint(a)
	if err != nil {
		return s.finishLogin(c, pl, idp, nil, err)
	}
	if replayed {
		return s.finishLogin(c, pl, idp, nil, &saml.Error{Reason: saml.ReasonReplay, Err: errors.New("artifact seen before")})
	}
	ctx := c.Request().Context()
	now := s.Now()
	resolveID, err := saml.NewID(s.Rand)
	if err != nil {
		return err
	}
	env, err := s.signer(idp, now).ArtifactResolve(resolveID, s.Opt.EntityID, ep.Location, art, now)
	if err != nil {
		return fmt.Errorf("build ArtifactResolve: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, s.Opt.SOAPTimeout)
	defer cancel()
	start := time.Now()
	body, err := s.SOAP.Call(cctx, ep.Location, env)
	s.observeArtifactResolution(start)
	if err != nil {
		return s.finishLogin(c, pl, idp, nil, err)
	}
	res, err := s.Verifier.VerifyArtifactResponse(body, saml.Expected{
		IdP: idp.Policy, AuthnRequestID: pl.RequestID, ArtifactResolveID: resolveID, ACSURL: s.acsURL(), Now: s.Now(),
	})
	return s.finishLogin(c, pl, idp, res, err)
}

// acsPost: POST /saml/acs with SAMLResponse and RelayState (HTTP-POST binding).
func (s *Server) acsPost(c *echo.Context) error {
	defer s.observeACS("post", time.Now())
	req := c.Request()
	req.Body = http.MaxBytesReader(c.Response(), req.Body, s.Opt.MaxPostBytes)
	if err := req.ParseForm(); err != nil {
		return &pageError{Status: http.StatusRequestEntityTooLarge, Key: "bad_request", Reason: string(saml.ReasonTooLarge), Err: err}
	}
	pl, err := s.takePending(c, req.PostForm.Get("RelayState"), "/saml/acs")
	if err != nil {
		return err
	}
	idp, err := s.pendingIdP(pl, saml.BindingHTTPPost)
	if err != nil {
		return err
	}
	raw := strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, req.PostForm.Get("SAMLResponse"))
	xml, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(xml) == 0 {
		return s.finishLogin(c, pl, idp, nil, &saml.Error{Reason: saml.ReasonMalformed, Err: errors.New("SAMLResponse is not base64")})
	}
	res, err := s.Verifier.VerifyPOSTResponse(xml, saml.Expected{
		IdP: idp.Policy, AuthnRequestID: pl.RequestID, ACSURL: s.acsURL(), Now: s.Now(),
	})
	return s.finishLogin(c, pl, idp, res, err)
}

// pendingIdP returns the IdP the pending login went to, which must answer on binding.
func (s *Server) pendingIdP(pl *session.PendingLogin, binding string) (*IdP, error) {
	idp, err := s.idp(pl.IdP)
	if err != nil {
		return nil, err
	}
	if idp == nil {
		return nil, &pageError{Status: http.StatusBadRequest, Key: "expired", Reason: "config",
			Err: fmt.Errorf("pending login names IdP %q that is no longer configured", pl.IdP)}
	}
	if idp.Binding != binding {
		return nil, &pageError{Status: http.StatusBadRequest, Key: "bad_request", Reason: "binding",
			Err: fmt.Errorf("answer on %s but %s uses %s", binding, idp.Name, idp.Binding), Retry: retryURL(pl)}
	}
	return idp, nil
}

// metadata serves our SP metadata for admins to upload to the IdP.
func (s *Server) metadata(c *echo.Context) error {
	c.Response().Header().Set("Content-Disposition", `inline; filename="eidsp-sp-metadata.xml"`)
	return c.Blob(http.StatusOK, "application/samlmetadata+xml", s.SPMetadataAt(s.Now()))
}
