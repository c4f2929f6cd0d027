// Package metadata owns the SAML 2.0 metadata that crosses the trust boundary between this service
// provider and an identity provider, in both directions.
//
// Outbound, [SP.Build] renders our own SP metadata, the document an administrator uploads to the IdP
// (ID-porten's self-service portal or a federation). Its shape is fixed by the ID-porten profile and by
// Digdir's schema: signed AuthnRequests and assertions, signing and encryption keys, a Redirect-bound
// SingleLogoutService, the transient NameID format and an HTTP-Artifact AssertionConsumerService. The
// output is deterministic so that it can be compared against golden files and diffed on key rollover.
//
// Inbound, [ParseIdP] turns an IdP's metadata (an EntityDescriptor, or one entity picked out of an
// EntitiesDescriptor aggregate) into a [saml.IdPDescriptor]. That descriptor is the only place the SP
// learns IdP endpoints and keys, so the parser is strict: the XML goes through [saml.ParseUntrusted]
// first, elements are matched by namespace URI rather than prefix, every endpoint must be https, the
// document must not have expired, and when trusted metadata-signing certificates are configured the
// document is only read from the bytes its enveloped signature covers. Every problem found is reported
// at once, in words an administrator can act on.
//
// [CheckSP] reads SP metadata an administrator uploads (the development IdP's self-service page),
// with ID-porten's registration rules; it does not verify signatures. The IdPs' metadata as it
// stands at run time — refreshed, uploaded, shared between instances — is kept by the registry
// subpackage.
package metadata
