"""Probes the resolver API's guards and prints what each probe got, as one JSON object of
{probe: [HTTP status, error code or ""]}.

Usage: python api_guard.py API_URL [ACCESS_KEY_ID SECRET]

Without keys (an unauthenticated API): plain requests with an Origin header, with a DNS-name
Host, with an IP Host that is not loopback, and with Host localhost. With keys: the same requests
SigV4-signed (Host and Origin signed as sent), and a change batch signed with
x-amz-content-sha256: UNSIGNED-PAYLOAD.
"""

import json
import re
import sys
import urllib.error
import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.credentials

URL = sys.argv[1]
KEYS = sys.argv[2:4]
PORT = URL.rsplit(":", 1)[1]
ZONES = URL + "/2013-04-01/hostedzone"


def fetch(method, url, headers, body=None):
    """Sends one request (signed when keys were given); returns (status, body text)."""
    if KEYS:
        req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=headers)
        botocore.auth.SigV4Auth(botocore.credentials.Credentials(*KEYS), "route53", "us-east-1").add_auth(req)
        headers = dict(req.headers.items())
    r = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def send(method, url, headers, body=None):
    """[status, error code or ""]."""
    status, text = fetch(method, url, headers, body)
    code = re.search(r"<Code>([^<]*)</Code>", text) if status >= 300 else None
    return [status, code.group(1) if code else ""]


result = {
    "origin": send("GET", ZONES, {"Origin": "http://evil.example"}),
    "dns_name_host": send("GET", ZONES, {"Host": "evil.example:" + PORT}),
    "ip_host": send("GET", ZONES, {"Host": "192.0.2.1:" + PORT}),
    "localhost": send("GET", ZONES, {"Host": "localhost:" + PORT}),
    "loopback": send("GET", ZONES, {}),
}
if KEYS:
    zone = re.search(r"<Id>/hostedzone/([^<]*)</Id>", fetch("GET", ZONES, {})[1]).group(1)
    batch = (
        b'<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest '
        b'xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes><Change>'
        b"<Action>UPSERT</Action><ResourceRecordSet><Name>unsigned.lab.test</Name><Type>A</Type>"
        b"<TTL>30</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.7</Value>"
        b"</ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes>"
        b"</ChangeBatch></ChangeResourceRecordSetsRequest>"
    )
    result["unsigned_payload"] = send(
        "POST",
        "%s/%s/rrset/" % (ZONES, zone),
        {"Content-Type": "text/xml", "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"},
        batch,
    )
print(json.dumps(result))
