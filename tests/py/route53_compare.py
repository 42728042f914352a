"""What the differential scenarios share: a boto3 Route 53 client for an endpoint, and the
comparison of one scenario's outcomes on moto and on the lab resolver."""
import json

import boto3


def client(url):
    return boto3.client("route53", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="lab", aws_secret_access_key="lab")


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
