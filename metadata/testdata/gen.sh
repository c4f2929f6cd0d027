#!/bin/sh
# Makes the fixtures of the metadata tests.
#
# Certificates: TEST certificates only. Metadata carries certificates, never keys, so each private
# key is thrown away at once (written to /dev/null) and these certificates can sign nothing; the
# exception is sp-metadata-signing, below. They are
# made only when missing; delete *.crt to renew them, then run `go test ./metadata/ -update` so the
# golden files pick up the new certificates.
#
# IdP metadata fixtures (idp-*.xml, fail-*.xml) are rewritten on every run from the certificates.
set -eu
cd "$(dirname "$0")"

for name in sp-signing sp-signing-next sp-encryption sp-encryption-next idp-signing idp-signing-next idp-encryption; do
	[ -f "$name.crt" ] && continue
	openssl req -x509 -newkey rsa:2048 -nodes -keyout /dev/null -sha256 -days 7300 \
		-subj "/O=eidsp TEST/CN=$name (TEST ONLY)" -out "$name.crt" 2>/dev/null
done

# The one pair whose key is kept: it signs the signed-metadata golden file (SP.Signer), which needs
# the same key on every run. A TEST KEY, publicly known; the comment on top of the file says so.
if [ ! -f sp-metadata-signing.key ] || [ ! -f sp-metadata-signing.crt ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout sp-metadata-signing.pem -sha256 -days 7300 \
		-subj "/O=eidsp TEST/CN=sp-metadata-signing (TEST ONLY)" -out sp-metadata-signing.crt 2>/dev/null
	{
		echo "# TEST KEY -- eidsp metadata/testdata only (made by gen.sh with openssl)."
		echo "# Publicly known: never trust it anywhere but in these tests."
		cat sp-metadata-signing.pem
	} > sp-metadata-signing.key
	rm sp-metadata-signing.pem
fi

# b64 NAME: the certificate's DER in base64, wrapped at 64 columns as most IdPs publish it.
b64() { openssl x509 -in "$1.crt" -outform DER | openssl base64 -e; }
# b64line NAME: the same on one line.
b64line() { b64 "$1" | tr -d '\n'; }

PROTO=urn:oasis:names:tc:SAML:2.0:protocol
B=urn:oasis:names:tc:SAML:2.0:bindings

# An ID-porten-like IdP: Redirect SSO and SLO, SOAP artifact resolution, separate signing and
# encryption keys, the signing certificate wrapped over several lines.
cat > idp-idporten.xml <<XML
<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="_idporten-test-metadata" entityID="https://idporten.test.example/idporten-saml">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="true" protocolSupportEnumeration="$PROTO">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo>
        <ds:X509Data>
          <ds:X509Certificate>
$(b64 idp-signing)
          </ds:X509Certificate>
        </ds:X509Data>
      </ds:KeyInfo>
    </md:KeyDescriptor>
    <md:KeyDescriptor use="encryption">
      <ds:KeyInfo>
        <ds:X509Data>
          <ds:X509Certificate>$(b64line idp-encryption)</ds:X509Certificate>
        </ds:X509Data>
      </ds:KeyInfo>
    </md:KeyDescriptor>
    <md:ArtifactResolutionService Binding="$B:SOAP" Location="https://idporten.test.example/opensso/ArtifactResolver/metaAlias/norge.no/idp3" index="0" isDefault="true"/>
    <md:SingleLogoutService Binding="$B:HTTP-Redirect" Location="https://idporten.test.example/opensso/IDPSloRedirect/metaAlias/norge.no/idp3" ResponseLocation="https://idporten.test.example/opensso/IDPSloRedirect/metaAlias/norge.no/idp3"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat>
    <md:SingleSignOnService Binding="$B:HTTP-Redirect" Location="https://idporten.test.example/opensso/SSORedirect/metaAlias/norge.no/idp3"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
XML

# A federation aggregate with two IdPs, the second nested one level deeper and written with the
# metadata namespace as default namespace (no prefix). Its effective validUntil is the nested
# aggregate's (the earliest), its cacheDuration the IDPSSODescriptor's (the shortest).
cat > idp-aggregate.xml <<XML
<?xml version="1.0" encoding="UTF-8"?>
<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Name="eidsp test federation" validUntil="2045-01-01T00:00:00Z" cacheDuration="P1D">
  <md:EntityDescriptor entityID="https://idporten.test.example/idporten-saml">
    <md:IDPSSODescriptor protocolSupportEnumeration="$PROTO">
      <md:KeyDescriptor use="signing">
        <ds:KeyInfo><ds:X509Data><ds:X509Certificate>$(b64line idp-signing)</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
      </md:KeyDescriptor>
      <md:SingleSignOnService Binding="$B:HTTP-Redirect" Location="https://idporten.test.example/sso"/>
    </md:IDPSSODescriptor>
  </md:EntityDescriptor>
  <md:EntitiesDescriptor Name="buypass" validUntil="2040-06-01T12:00:00Z">
    <EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://buypass.test.example/ips">
      <IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol $PROTO" validUntil="2044-01-01T00:00:00Z" cacheDuration="PT6H">
        <KeyDescriptor>
          <ds:KeyInfo><ds:X509Data><ds:X509Certificate>$(b64line idp-signing-next)</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
        </KeyDescriptor>
        <SingleLogoutService Binding="$B:HTTP-Redirect" Location="https://buypass.test.example/slo"/>
        <SingleSignOnService Binding="$B:HTTP-Redirect" Location="https://buypass.test.example/sso"/>
        <SingleSignOnService Binding="$B:HTTP-POST" Location="https://buypass.test.example/sso/post"/>
      </IDPSSODescriptor>
    </EntityDescriptor>
  </md:EntitiesDescriptor>
</md:EntitiesDescriptor>
XML

# Negative fixtures.
cat > fail-no-idpsso.xml <<XML
<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idporten.test.example/idporten-saml">
  <md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" protocolSupportEnumeration="$PROTO">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>$(b64line idp-signing)</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:AssertionConsumerService Binding="$B:HTTP-Artifact" Location="https://sp.test.example/acs" index="1"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
XML

cat > fail-billion-laughs.xml <<'XML'
<?xml version="1.0"?>
<!DOCTYPE md:EntityDescriptor [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&lol3;"/>
XML

cat > fail-xxe.xml <<'XML'
<?xml version="1.0"?>
<!DOCTYPE md:EntityDescriptor [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&xxe;"/>
XML
