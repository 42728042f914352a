"""What the differential scenarios share: a boto3 Route 53 client for an endpoint, and the
comparison of one scenario's outcomes on moto and on the lab resolver."""

import json

import boto3
from botocore.exceptions import ClientError


def client(url):
    return boto3.client(
        "route53", endpoint_url=url, region_name="us-east-1", aws_access_key_id="lab", aws_secret_access_key="lab"
    )


def recorder(out):
    """A `step(name, fn)` that records `fn()`'s outcome in `out[name]`: ["ok", value], or
    [error code, None] when Route 53 (or moto) refuses the call."""

    def step(name, fn):
        try:
            out[name] = ["ok", fn()]
        except ClientError as e:
            out[name] = [e.response["Error"]["Code"], None]

    return step


def compare(moto, resolver, route53_only):
    """The failures of `resolver` against `moto` (step -> [outcome, value]): every step must match
    moto's, except the steps of `route53_only` (step -> Route 53's documented outcome), which the
    resolver must show; where moto then differs, a "moto differs at STEP" line is printed."""
    failures = []
    for step, res in resolver.items():
        res_text, moto_text = json.dumps(res), json.dumps(moto.get(step))
        if step in route53_only:
            want = route53_only[step]
            if res[0] != want:
                failures.append("%s: Route 53 answers %s, the resolver %s" % (step, want, res_text))
            elif moto_text != res_text:
                print("moto differs at %s: moto %s, resolver (as Route 53) %s" % (step, moto_text, res_text))
        elif res_text != moto_text:
            failures.append("%s differs: moto %s, resolver %s" % (step, moto_text, res_text))
    return failures
