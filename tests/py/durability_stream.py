"""Streams single-record CREATEs to the resolver API and prints each acknowledged name, flushed,
until killed or COUNT is reached. Usage: python durability_stream.py API_URL ZONE_ID COUNT"""

import sys

import boto3

url, zid, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
r53 = boto3.client(
    "route53", endpoint_url=url, region_name="us-east-1", aws_access_key_id="lab", aws_secret_access_key="lab"
)
for i in range(count):
    name = "n%04d.durable.test." % i
    try:
        r53.change_resource_record_sets(
            HostedZoneId=zid,
            ChangeBatch={
                "Changes": [
                    {
                        "Action": "CREATE",
                        "ResourceRecordSet": {
                            "Name": name,
                            "Type": "A",
                            "TTL": 30,
                            "ResourceRecords": [{"Value": "192.0.2.1"}],
                        },
                    }
                ]
            },
        )
    except Exception:
        break
    print(name, flush=True)
