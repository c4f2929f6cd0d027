#!/usr/bin/python3
"""A second SP's opinion on the attack vectors: python3-saml (Debian's python3-onelogin-saml2).

For every case of manifest.json this asks python3-saml what eidsp's handlers are asked in
handlers/attacks_test.go and records its verdict next to ours:

    python3saml            accept | reject | n/a
    python3saml_error      python3-saml's error reason (or the exception it raised) when it rejects
    python3saml_nameid,    what it would log the user in as when it accepts (NameID, the uid
    python3saml_uid        attribute), so that an accept of the wrong person cannot hide
    python3saml_differential
                           why, where its verdict is not ours (accept where we reject, or the
                           reverse); the text comes from DIFFERENTIAL below

Run with Debian's interpreter (the python3 on PATH may be another one):

    /usr/bin/python3 testdata/attacks/python3saml.py           # JSON verdicts on stdout
    /usr/bin/python3 testdata/attacks/python3saml.py --write   # and merge them into manifest.json

gen.py rewrites manifest.json from scratch, so run this with --write after it.
handlers/attacks_python3saml_test.go runs it (without --write) and holds the output to the
manifest.

How python3-saml is driven -- the way an application built on it would:
  * post:  OneLogin_Saml2_Auth(request_data, settings).process_response(request_id=<the
           AuthnRequest ID the browser's pending login holds>), strict mode, the IdP certificate
           from testdata/attacks, wantAssertionsSigned (eidsp requires a signed assertion),
           wantMessagesSigned off (the Response signature is optional for eidsp too),
           wantAssertionsEncrypted for the *-enc profiles, the SP key for decryption. An
           exception out of process_response (it raises from the constructor on undecryptable
           ciphertext, from get_nameid_data on a foreign SPNameQualifier) is a rejection.
           Replay cases deliver the same message twice (to a new login with the same
           AuthnRequest ID, as the Go test does) and record the second verdict.
  * slo:   OneLogin_Saml2_Auth(request_data, settings).process_slo() on the Redirect-binding
           query (signature checked over the query as received, validate_signature_from_qs),
           with wantMessagesSigned on (eidsp requires a signed LogoutRequest).
  * artifact (SOAP), web (return_to), logout (CSRF): n/a -- python3-saml has no artifact binding
           and no web layer.
The clock: python3-saml compares with OneLogin_Saml2_Utils.now(); it is replaced by the
manifest's "now" (plus the case's "advance"), so time checks see the vectors' own time.
python3-saml 1.12 has no algorithm allow-list (rejectDeprecatedAlgorithm arrived later) and
allows 300 s of clock drift on Conditions (eidsp: 180 s).
"""
import json
import os
import re
import sys
import urllib.parse
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))

from onelogin.saml2 import utils as ol_utils  # noqa: E402
from onelogin.saml2.auth import OneLogin_Saml2_Auth  # noqa: E402
from onelogin.saml2.constants import OneLogin_Saml2_Constants  # noqa: E402

try:
    from importlib.metadata import version as _dist_version
    PY3SAML_VERSION = _dist_version("python3-saml")
except Exception:  # pragma: no cover - metadata missing
    PY3SAML_VERSION = "unknown"

USED_LOGIN_ID = "_" + "c1" * 20  # the fixture's login after one that used _a1… (attacks_test.go)

# Why python3-saml's verdict is not eidsp's. Keyed by case name; written into the manifest as
# python3saml_differential. handlers/attacks_python3saml_test.go insists on an entry for every
# case where the verdicts differ.
DIFFERENTIAL = {
    # Signature shape, algorithms and transforms: python3-saml 1.12 hands every ds:Signature to
    # xmlsec with no allow-list (rejectDeprecatedAlgorithm came in 1.13 and covers SHA-1 only).
    "fail/comment-in-digestvalue":
        "python3-saml parses with comments removed (its lxml parser: remove_comments) before xmlsec "
        "verifies, so the DigestValue reads whole and the signature holds; eidsp refuses a comment inside "
        "a ds: value rather than depend on how a verifier joins text around it (xml-crypto CVE-2025-29774)",
    "fail/two-references":
        "python3-saml checks only that the first Reference names the signed element's ID and lets xmlsec "
        "verify every Reference; here both cover the same assertion, so what it reads is signed. eidsp "
        "demands exactly one Reference (xml-crypto CVE-2025-29775: a second Reference is where a wrapped "
        "element hides)",
    "fail/rsa-sha1-not-allowed":
        "python3-saml 1.12 has no algorithm allow-list (rejectDeprecatedAlgorithm arrived in 1.13): RSA-SHA1 "
        "verifies; eidsp allows SHA-1 only for an IdP configured for it (ok/post-sha1-where-allowed)",
    "fail/rsa-md5":
        "python3-saml 1.12 has no algorithm allow-list and xmlsec still verifies RSA-MD5; eidsp allows "
        "RSA-SHA256 (SHA-1 only where configured)",
    "fail/digest-md5":
        "python3-saml 1.12 has no digest allow-list and xmlsec still computes MD5 digests; eidsp allows SHA-256 "
        "(SHA-1 only where configured)",
    "fail/transform-xpath":
        "python3-saml lets xmlsec run whatever transforms the signature names; an XPath transform lets the "
        "signer choose which nodes the digest covers (here it only stands in for enveloped-signature). eidsp "
        "allows exactly enveloped-signature + exclusive c14n",
    "fail/transform-xpath-filter2":
        "python3-saml lets xmlsec run any transform; XPath-Filter-2 'subtract' can drop any part of the "
        "element from the digest (here only the Signature). eidsp allows exactly enveloped-signature + "
        "exclusive c14n",
    "fail/transform-exc-c14n-with-comments":
        "python3-saml's parser already dropped the comments, so #WithComments digests the same bytes and "
        "verifies; eidsp refuses the algorithm outright (a verifier that keeps comments would digest "
        "something else than it reads)",
    "fail/c14n-method-with-comments":
        "python3-saml's parser already dropped the comments, so a #WithComments CanonicalizationMethod "
        "verifies; eidsp allows exclusive c14n without comments only",
    "fail/transform-three-transforms":
        "python3-saml runs any transform chain; a repeated exclusive c14n is harmless here. eidsp allows "
        "exactly two transforms (enveloped-signature, exclusive c14n) so no chain is ever evaluated",
    # Size limits.
    "fail/1200-elements-with-signature":
        "python3-saml has no element-count limit (lxml parses it, xmlsec verifies); eidsp caps elements "
        "(500, saml.DefaultLimits) before verifying, because crewjam/goxmldsig 1.6.1 crash on such trees and c14n cost grows with them",
    "fail/deep-tree-with-signature":
        "python3-saml only has libxml2's own depth limit (256 without huge_tree); 60 levels pass. eidsp "
        "stops at 32 levels (saml.DefaultLimits)",
    "fail/oversized-post-body":
        "the attack is the size of the form body (a 300 KiB extra field), which python3-saml never sees: it "
        "gets the SAMLResponse value only; the body limit belongs to the web layer, which eidsp has built in",
    "fail/slo-deflate-bomb":
        "python3-saml inflates the Redirect-binding SAMLRequest with zlib.decompress, no size cap: the 2 MiB "
        "comment inflates, is dropped by its parser, and the correctly signed LogoutRequest is accepted. eidsp "
        "stops inflating at its cap",
    # Protocol checks python3-saml does not make.
    "fail/destination-empty-when-signed":
        "python3-saml refuses an empty Destination attribute but not an absent one; SAML bindings 3.5.5.2 says "
        "a signed Response MUST carry Destination, which eidsp enforces",
    "fail/issueinstant-future":
        "python3-saml never reads the Response IssueInstant; eidsp refuses one beyond the clock skew",
    "fail/issueinstant-too-old":
        "python3-saml never reads the Response IssueInstant (it has no maximum response age); eidsp refuses "
        "one older than max_response_age + skew",
    "fail/assertion-issueinstant-too-old":
        "python3-saml never reads the Assertion IssueInstant; eidsp refuses one older than max_response_age "
        "+ skew",
    "fail/missing-sessionindex":
        "SessionIndex is optional in SAML core and python3-saml does not require it; eidsp does, because "
        "the IdP's LogoutRequest names the session to end by it",
    # Application policy python3-saml leaves to its caller.
    "fail/bad-national-id-checksum":
        "python3-saml returns the attributes as sent; checking the national identity number (mod-11 "
        "checksums) is eidsp's attribute policy, not SAML",
    "fail/synthetic-person-in-production":
        "python3-saml returns the attributes as sent; refusing synthetic (Tenor) persons in a production "
        "profile is eidsp's attribute policy, not SAML",
    # State python3-saml does not keep.
    "fail/replay-same-response-twice":
        "python3-saml is stateless: it offers get_assertion_id/get_assertion_not_on_or_after and leaves the "
        "replay cache to the application; the second delivery answers a pending login with the same "
        "AuthnRequest ID (the fixture's deterministic IDs), so its InResponseTo check passes too. eidsp keeps "
        "used assertion IDs in its store until NotOnOrAfter + skew",
    "fail/replay-same-relaystate-again":
        "python3-saml does not know RelayState or pending logins; the application that stores the request ID "
        "per login would have to refuse the spent one. eidsp spends the pending login on first use",
    "fail/replay-after-restart":
        "python3-saml is stateless (no replay cache, see replay-same-response-twice); eidsp's used-assertion "
        "record is in the store and survives a restart",
    "fail/replay-second-instance":
        "python3-saml is stateless (no replay cache); eidsp's used-assertion record is in the store shared by "
        "both instances",
}
for i in range(4):
    DIFFERENTIAL["fail/relaystate-url-%02d" % i] = (
        "the message is the valid positive control; the attack is a RelayState that is a URL instead of a "
        "pending-login key. python3-saml's process_response never reads RelayState (what to do with "
        "it is the application's business); eidsp finds no pending login under it and refuses")


class Clock:
    t = 0


def fixed_now():
    return Clock.t


# python3-saml reads the time only through OneLogin_Saml2_Utils.now() when validating.
ol_utils.OneLogin_Saml2_Utils.now = staticmethod(fixed_now)


def pem_body(path):
    with open(path) as f:
        lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    return "".join(l for l in lines if not l.startswith("-----"))


def settings(m, slo=False, encrypted=False):
    sp = m["sp_base_url"]
    idp = m["idp_entity_id"]
    return {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": m["sp_entity_id"],
            "assertionConsumerService": {"url": sp + "/saml/acs", "binding": OneLogin_Saml2_Constants.BINDING_HTTP_POST},
            "singleLogoutService": {"url": sp + "/saml/slo", "binding": OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT},
            "NameIDFormat": OneLogin_Saml2_Constants.NAMEID_TRANSIENT,
            "x509cert": pem_body(os.path.join(HERE, "sp.crt")),
            # PKCS#8 body; format_private_key would wrap it as PKCS#1, so give it the PEM.
            "privateKey": "-----BEGIN PRIVATE KEY-----\n" + pem_body(os.path.join(HERE, "sp.key"))
                          + "\n-----END PRIVATE KEY-----\n",
        },
        "idp": {
            "entityId": idp,
            "singleSignOnService": {"url": idp + "/sso", "binding": OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT},
            "singleLogoutService": {"url": idp + "/slo", "binding": OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT},
            "x509cert": pem_body(os.path.join(HERE, "idp.crt")),
        },
        "security": {
            "wantAssertionsSigned": True,
            "wantMessagesSigned": slo,
            "wantAssertionsEncrypted": encrypted,
            "wantNameId": True,
            "wantAttributeStatement": True,
        },
    }


def request_data(m, path, **extra):
    host = urllib.parse.urlsplit(m["sp_base_url"]).netloc
    d = {"https": "on", "http_host": host, "script_name": path}
    d.update(extra)
    return d


def saml_time(s):
    return int(datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())


def duration(s):
    mt = re.fullmatch(r"(\d+)([smh])", s)
    if not mt:
        raise ValueError("advance %r" % s)
    return int(mt.group(1)) * {"s": 1, "m": 60, "h": 3600}[mt.group(2)]


def one_line(s):
    return " ".join(str(s).split())


def post(m, c, vector):
    setup = c.get("setup") or {}
    st = settings(m, encrypted=c["profile"].endswith("-enc"))
    import base64
    b64 = base64.b64encode(vector).decode()

    def deliver(request_id):
        auth = OneLogin_Saml2_Auth(request_data(m, "/saml/acs", post_data={"SAMLResponse": b64}), st)
        try:
            auth.process_response(request_id=request_id)
        except Exception as e:  # an exception out of the toolkit ends the login too
            return {"python3saml": "reject", "python3saml_error": "exception: " + one_line(e)}
        if auth.get_errors() or not auth.is_authenticated():
            return {"python3saml": "reject",
                    "python3saml_error": one_line(auth.get_last_error_reason() or ", ".join(auth.get_errors()))}
        uid = auth.get_attributes().get("uid") or [""]
        return {"python3saml": "accept", "python3saml_nameid": auth.get_nameid(), "python3saml_uid": uid[0]}

    irt = m["authn_request_id"]
    if setup.get("used_login"):
        irt = USED_LOGIN_ID
    if setup.get("replay"):
        deliver(irt)  # the first, accepted delivery; python3-saml keeps no state between them
        if setup.get("advance"):
            Clock.t += duration(setup["advance"])
    return deliver(irt)


def slo(m, c, query):
    query = query.strip()
    get_data = {k: v[0] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}
    rd = request_data(m, "/saml/slo", get_data=get_data, query_string=query, validate_signature_from_qs=True)
    auth = OneLogin_Saml2_Auth(rd, settings(m, slo=True))
    try:
        auth.process_slo(keep_local_session=True)
    except Exception as e:
        return {"python3saml": "reject", "python3saml_error": "exception: " + one_line(e)}
    errs = auth.get_errors()
    if errs:
        return {"python3saml": "reject", "python3saml_error": one_line(auth.get_last_error_reason() or ", ".join(errs))}
    return {"python3saml": "accept"}


def verdict(m, c):
    Clock.t = saml_time(m["now"])
    b = c["binding"]
    if b not in ("post", "slo") or not c.get("file"):
        return {"python3saml": "n/a"}
    with open(os.path.join(HERE, c["file"]), "rb") as f:
        data = f.read()
    if b == "post":
        return post(m, c, data)
    return slo(m, c, data.decode())


def run(m):
    out = {}
    for c in m["cases"]:
        v = verdict(m, c)
        if v["python3saml"] not in ("n/a", c["expect"]):
            v["python3saml_differential"] = DIFFERENTIAL.get(c["name"], "")
        out[c["name"]] = v
    return out


FIELDS = ("python3saml", "python3saml_error", "python3saml_nameid", "python3saml_uid", "python3saml_differential")


def main():
    path = os.path.join(HERE, "manifest.json")
    with open(path) as f:
        m = json.load(f)
    res = run(m)
    if "--write" in sys.argv[1:]:
        m["python3saml_version"] = PY3SAML_VERSION
        for c in m["cases"]:
            for k in FIELDS:
                c.pop(k, None)
            c.update(res[c["name"]])
        with open(path, "w") as f:
            json.dump(m, f, indent=1)
            f.write("\n")
    json.dump({"python3saml_version": PY3SAML_VERSION, "cases": res}, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    missing = [n for n, v in res.items() if v.get("python3saml_differential") == ""]
    counts = {}
    for v in res.values():
        counts[v["python3saml"]] = counts.get(v["python3saml"], 0) + 1
    print("python3-saml %s: %s; differing without explanation: %d" % (
        PY3SAML_VERSION, ", ".join("%s %d" % kv for kv in sorted(counts.items())), len(missing)), file=sys.stderr)
    for n in missing:
        print("  no explanation: " + n, file=sys.stderr)


if __name__ == "__main__":
    main()
