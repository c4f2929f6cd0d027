# Attribute names exactly as ID-porten sends them (spec/PROFILE.md section 4). Without this map
# pysaml2 would rename "uid" to its OID and lower-case the others.
MAP = {
    "identifier": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
    "fro": {
        "uid": "uid",
        "SecurityLevel": "SecurityLevel",
        "AuthMethod": "AuthMethod",
        "Culture": "Culture",
        "OnBehalfOf": "OnBehalfOf",
    },
    "to": {
        "uid": "uid",
        "SecurityLevel": "SecurityLevel",
        "AuthMethod": "AuthMethod",
        "Culture": "Culture",
        "OnBehalfOf": "OnBehalfOf",
    },
}
