"""One signed ChangeResourceRecordSets with the given key, as boto3 sends it; prints the outcome as
one JSON line: {"code": "OK"} or {"code": ..., "message": ..., "status": ...}.

Usage: python iam_change.py API_URL ACCESS_KEY_ID SECRET ZONE_ID ACTION:NAME:TYPE...
(each change one argument; an A record gets 192.0.2.1, any other type a TXT value), or
       python iam_change.py API_URL ACCESS_KEY_ID SECRET ZONE_ID[,ZONE_ID...] TAGS
(one ListTagsForResources of those hosted zones instead).
"""

import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

URL, KEY, SECRET, ZONE = sys.argv[1:5]
changes = []
for spec in [a for a in sys.argv[5:] if a != "TAGS"]:
    action, name, rtype = spec.split(":")
    value = "192.0.2.1" if rtype == "A" else '"iam-check"'
    changes.append(
        {
            "Action": action,
            "ResourceRecordSet": {
                "Name": name,
                "Type": rtype,
                "TTL": 60,
                "ResourceRecords": [{"Value": value}],
            },
        }
    )

client = boto3.client(
    "route53",
    endpoint_url=URL,
    region_name="us-east-1",
    aws_access_key_id=KEY,
    aws_secret_access_key=SECRET,
    config=Config(retries={"max_attempts": 1}),
)
try:
    if sys.argv[5:] == ["TAGS"]:
        client.list_tags_for_resources(ResourceType="hostedzone", ResourceIds=ZONE.split(","))
    else:
        client.change_resource_record_sets(HostedZoneId=ZONE, ChangeBatch={"Changes": changes})
    print(json.dumps({"code": "OK"}))
except ClientError as e:
    print(
        json.dumps(
            {
                "code": e.response["Error"]["Code"],
                "message": e.response["Error"]["Message"],
                "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
            }
        )
    )
