#!/usr/bin/python3
"""Act as a SAML IdP with pysaml2 and print one base64 SAMLResponse for the HTTP-POST binding.

Run with Debian's /usr/bin/python3 (python3-pysaml2 7.0.1). pysaml2 signs and encrypts through
xmlsec1, so the output is an independent check of eidsp's verifier (saml/pysaml2_test.go).

Usage: make_response.py INPUT.json   (keys: see the Go test's pysaml2Input)
"""
import base64
import functools
import json
import os
import sys

import saml2.entity
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml, sigver, xmldsig
from saml2.config import IdPConfig
from saml2.server import Server

HERE = os.path.dirname(os.path.abspath(__file__))
AES128_CBC = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
SIG = {"sha256": xmldsig.SIG_RSA_SHA256, "sha1": xmldsig.SIG_RSA_SHA1}
DIGEST = {"sha256": xmldsig.DIGEST_SHA256, "sha1": xmldsig.DIGEST_SHA1}


def pem_body(path):
    """The base64 body of a PEM certificate, as metadata and KeyInfo carry it."""
    with open(path) as f:
        return "".join(l.strip() for l in f if not l.startswith("-----"))


def sp_metadata(entity_id, acs_url, enc_cert_path):
    # Just enough SP metadata for pysaml2 to know the SP: an encryption key and a POST ACS.
    return f"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">
  <md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true"
      protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{pem_body(enc_cert_path)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat>
    <md:AssertionConsumerService Binding="{BINDING_HTTP_POST}" Location="{acs_url}" index="1" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"""


def main(inp):
    alg = inp.get("alg", "sha256")
    cfg = IdPConfig()
    cfg.load({
        "entityid": inp["idp_entity_id"],
        "key_file": inp["idp_key"],
        "cert_file": inp["idp_cert"],
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "attribute_map_dir": os.path.join(HERE, "attributemaps"),
        "metadata": {"inline": [sp_metadata(inp["sp_entity_id"], inp["acs_url"], inp["sp_enc_cert"])]},
        "signing_algorithm": SIG[alg],
        "digest_algorithm": DIGEST[alg],
        "service": {"idp": {
            "endpoints": {"single_sign_on_service": [(inp["idp_entity_id"] + "/sso", BINDING_HTTP_REDIRECT)]},
            # Basic name format keeps the names of attributemaps/idporten.py; 5 minutes validity.
            "policy": {"default": {"name_form": saml.NAME_FORMAT_BASIC, "lifetime": {"minutes": 5}}},
        }},
    })
    idp = Server(config=cfg)

    # pysaml2 7.0.1 always encrypts assertions with 3DES (pre_encryption_part's default and
    # xmlsec1 --session-key des-192). The profile requires AES, as ID-porten used: pin
    # aes128-cbc with rsa-oaep-mgf1p key transport.
    saml2.entity.pre_encryption_part = functools.partial(sigver.pre_encryption_part, msg_enc=AES128_CBC)
    encrypt = idp.sec.encrypt_assertion
    idp.sec.encrypt_assertion = lambda st, key, tmpl, key_type=None, node_xpath=None: encrypt(
        st, key, tmpl, key_type="aes-128", node_xpath=node_xpath)

    name_id = saml.NameID(format=saml.NAMEID_FORMAT_TRANSIENT, sp_name_qualifier=inp["sp_entity_id"],
                          text=inp["name_id"])
    resp = idp.create_authn_response(
        identity={k: [v] for k, v in inp["attributes"].items()},
        in_response_to=inp["in_response_to"],
        destination=inp["acs_url"],
        sp_entity_id=inp["sp_entity_id"],
        name_id=name_id,
        authn={"class_ref": inp["class_ref"], "authn_auth": inp["idp_entity_id"]},
        sign_response=inp["sign_response"],
        sign_assertion=inp["sign_assertion"],
        encrypt_assertion=inp["encrypt_assertion"],
        encrypt_cert_assertion=pem_body(inp["sp_enc_cert"]) if inp["encrypt_assertion"] else None,
        sign_alg=SIG[alg],
        digest_alg=DIGEST[alg],
    )
    sys.stdout.write(base64.b64encode(str(resp).encode("utf-8")).decode("ascii"))


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        main(json.load(f))
