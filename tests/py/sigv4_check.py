"""SigV4 on the resolver API: signed requests pass; unsigned, wrong-key, unknown-key and tampered
requests are refused with Route 53-style errors.

Usage: python sigv4_check.py API_URL ACCESS_KEY_ID SECRET
"""

import sys
import urllib.error
import urllib.request

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
from botocore.exceptions import ClientError

URL, KEY, SECRET = sys.argv[1], sys.argv[2], sys.argv[3]


def client(key, secret):
    return boto3.client(
        "route53", endpoint_url=URL, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret
    )


def code_of(fn):
    try:
        fn()
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]


def expect(got, want, what):
    if got != want:
        sys.exit("FAILED: %s: expected %s, got %s" % (what, want, got))


good = client(KEY, SECRET)
zid = good.create_hosted_zone(Name="signed.test", CallerReference="signed")["HostedZone"]["Id"]
expect(code_of(lambda: good.list_hosted_zones()), "ok", "a signed request")
expect(code_of(lambda: client(KEY, SECRET + "x").list_hosted_zones()), "SignatureDoesNotMatch", "a wrong secret")
expect(code_of(lambda: client("AKIDUNKNOWN", SECRET).list_hosted_zones()), "InvalidClientTokenId", "an unknown key")

try:
    urllib.request.urlopen(URL + "/2013-04-01/hostedzone", timeout=5)
    sys.exit("FAILED: an unsigned request was accepted")
except urllib.error.HTTPError as e:
    body = e.read().decode()
    expect(e.code, 403, "unsigned status")
    expect("MissingAuthenticationToken" in body, True, "unsigned error code in " + body)


def signed_request(body):
    req = botocore.awsrequest.AWSRequest(
        method="POST", url=URL + "/2013-04-01%s/rrset/" % zid, data=body, headers={"Content-Type": "text/xml"}
    )
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(KEY, SECRET), "route53", "us-east-1").add_auth(req)
    return req


def send(req, body):
    r = urllib.request.Request(req.url, data=body, method="POST", headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(r, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


batch = (
    b'<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest '
    b'xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes><Change>'
    b"<Action>CREATE</Action><ResourceRecordSet><Name>a.signed.test</Name><Type>A</Type><TTL>30</TTL>"
    b"<ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords>"
    b"</ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"
)
req = signed_request(batch)
status, text = send(req, batch.replace(b"192.0.2.1", b"192.0.2.66"))
expect((status, "SignatureDoesNotMatch" in text), (403, True), "a tampered body: " + text)
status, text = send(req, batch)
expect(status, 200, "the untampered signed request: " + text)
print("ok sigv4")
