"""IP-based routing (CIDR collections and CidrRoutingConfig), end to end.

Usage:
  python ip_based.py lab HOST:PORT API_URL   boto3 and the aws CLI against the lab resolver, then
                                             DNS checks with dnspython (EDNS Client Subnet) and dig
  python ip_based.py moto MOTO_URL           the same calls against moto: prints what it does

The lab run: hosted zone ipb.test; collection `carriers` with location carrier-a
(198.51.100.0/24) and carrier-b (203.0.113.0/24, 2001:db8::/32); at play.ipb.test, A records
carrier-a → 192.0.2.1, carrier-b → an alias to the weighted pool.ipb.test (192.0.2.50), and the
default location `*` → 192.0.2.9. Exits non-zero with a message on the first failure.
"""

import json
import os
import subprocess
import sys
import uuid

import boto3
import dns.edns
import dns.message
import dns.query
from botocore.exceptions import ClientError

ZONE = "ipb.test"


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def client(url):
    return boto3.client(
        "route53", endpoint_url=url, region_name="us-east-1", aws_access_key_id="lab", aws_secret_access_key="lab"
    )


def refused(call, code):
    try:
        call()
    except ClientError as e:
        got = e.response["Error"]["Code"]
        check(got == code, "expected %s, got %s: %s" % (code, got, e))
        return
    check(False, "expected %s, the call succeeded" % code)


def member(set_id, location, collection, value=None, alias_zone=None):
    rrs = {
        "Name": "play." + ZONE,
        "Type": "A",
        "SetIdentifier": set_id,
        "CidrRoutingConfig": {"CollectionId": collection, "LocationName": location},
    }
    if alias_zone:
        rrs["AliasTarget"] = {"HostedZoneId": alias_zone, "DNSName": "pool." + ZONE, "EvaluateTargetHealth": True}
    else:
        rrs["TTL"] = 60
        rrs["ResourceRecords"] = [{"Value": value}]
    return {"Action": "CREATE", "ResourceRecordSet": rrs}


def ask(server, subnet=None, source_prefix=None):
    """The addresses play.ipb.test A answers, and the echoed (source, scope) of its ECS option."""
    host, port = server.rsplit(":", 1)
    options = []
    if subnet is not None:
        options.append(dns.edns.ECSOption(subnet, source_prefix))
    q = dns.message.make_query("play." + ZONE, "A", use_edns=0, options=options)
    r = dns.query.udp(q, host, port=int(port), timeout=5)
    addresses = sorted(rr.address for rrset in r.answer for rr in rrset)
    echoed = [(o.srclen, o.scopelen) for o in r.options if isinstance(o, dns.edns.ECSOption)]
    return addresses, (echoed[0] if echoed else None)


def aws_cli(api, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="lab", AWS_SECRET_ACCESS_KEY="lab", AWS_DEFAULT_REGION="us-east-1")
    aws = os.path.join(os.path.dirname(sys.executable), "aws")
    out = subprocess.run(
        [aws, "route53", *args, "--endpoint-url", api, "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    check(out.returncode == 0, "aws %s: %s" % (" ".join(args), out.stderr))
    return json.loads(out.stdout)


def lab(server, api):
    r53 = client(api)
    zone_id = r53.create_hosted_zone(Name=ZONE, CallerReference=str(uuid.uuid4()))["HostedZone"]["Id"]
    zone_id = zone_id.rsplit("/", 1)[-1]
    c = r53.create_cidr_collection(Name="carriers", CallerReference="carriers-1")["Collection"]
    r53.change_cidr_collection(
        Id=c["Id"],
        CollectionVersion=c["Version"],
        Changes=[
            {"LocationName": "carrier-a", "Action": "PUT", "CidrList": ["198.51.100.0/24"]},
            {"LocationName": "carrier-b", "Action": "PUT", "CidrList": ["203.0.113.0/24", "2001:db8::/32"]},
        ],
    )
    pool = {
        "Action": "CREATE",
        "ResourceRecordSet": {
            "Name": "pool." + ZONE,
            "Type": "A",
            "SetIdentifier": "p1",
            "Weight": 1,
            "TTL": 30,
            "ResourceRecords": [{"Value": "192.0.2.50"}],
        },
    }
    # A record set naming a location the collection does not hold, or a collection that does
    # not exist, is refused.
    refused(
        lambda: r53.change_resource_record_sets(
            HostedZoneId=zone_id, ChangeBatch={"Changes": [member("x", "carrier-z", c["Id"], "192.0.2.7")]}
        ),
        "InvalidChangeBatch",
    )
    refused(
        lambda: r53.change_resource_record_sets(
            HostedZoneId=zone_id,
            ChangeBatch={"Changes": [member("x", "carrier-a", str(uuid.uuid4()), "192.0.2.7")]},
        ),
        "InvalidChangeBatch",
    )
    r53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                pool,
                member("carrier-a", "carrier-a", c["Id"], "192.0.2.1"),
                member("carrier-b", "carrier-b", c["Id"], alias_zone=zone_id),
                member("everyone-else", "*", c["Id"], "192.0.2.9"),
            ]
        },
    )
    listed = r53.list_resource_record_sets(HostedZoneId=zone_id, StartRecordName="play." + ZONE)
    routed = {
        s["SetIdentifier"]: s["CidrRoutingConfig"]["LocationName"]
        for s in listed["ResourceRecordSets"]
        if "CidrRoutingConfig" in s
    }
    check(
        routed == {"carrier-a": "carrier-a", "carrier-b": "carrier-b", "everyone-else": "*"},
        "listed CidrRoutingConfig: %s" % routed,
    )
    # The aws CLI reads the same wire format.
    blocks = aws_cli(api, "list-cidr-blocks", "--collection-id", c["Id"])["CidrBlocks"]
    check(len(blocks) == 3, "aws list-cidr-blocks: %s" % blocks)
    sets = aws_cli(api, "list-resource-record-sets", "--hosted-zone-id", zone_id)["ResourceRecordSets"]
    check(
        any(s.get("CidrRoutingConfig", {}).get("LocationName") == "*" for s in sets),
        "aws list-resource-record-sets: %s" % sets,
    )
    # In use: the collection cannot be deleted, nor can a location records use be emptied.
    refused(lambda: r53.delete_cidr_collection(Id=c["Id"]), "CidrCollectionInUseException")
    refused(
        lambda: r53.change_cidr_collection(
            Id=c["Id"],
            Changes=[{"LocationName": "carrier-a", "Action": "DELETE_IF_EXISTS", "CidrList": ["198.51.100.0/24"]}],
        ),
        "CidrBlockInUseException",
    )
    # DNS: by EDNS Client Subnet, the longest block no longer than the subnet; echoed scope.
    for subnet, prefix, want, what in [
        ("198.51.100.0", 24, (["192.0.2.1"], (24, 24)), "carrier-a"),
        ("203.0.113.0", 24, (["192.0.2.50"], (24, 24)), "carrier-b through its alias"),
        ("2001:db8:1::", 56, (["192.0.2.50"], (56, 32)), "carrier-b over IPv6"),
        ("192.0.2.0", 24, (["192.0.2.9"], (24, 24)), "no location: the default"),
        ("198.51.0.0", 16, (["192.0.2.9"], (16, 24)), "a /16 does not match a /24 block"),
        ("0.0.0.0", 0, (["192.0.2.9"], (0, 0)), "nothing revealed: the default"),
    ]:
        got = ask(server, subnet, prefix)
        check(got == want, "%s: %s/%d got %s" % (what, subnet, prefix, got))
    # Without the option: the source address (127.0.0.1) is in no location.
    check(ask(server) == (["192.0.2.9"], None), "source address: default")
    # dig agrees.
    host, port = server.rsplit(":", 1)
    dig = subprocess.run(
        ["dig", "@" + host, "-p", port, "play." + ZONE, "A", "+short", "+subnet=198.51.100.0/24", "+tries=1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    check(dig.stdout.split() == ["192.0.2.1"], "dig +subnet: %r %r" % (dig.stdout, dig.stderr))
    # A block moved between locations moves its clients at once.
    r53.change_cidr_collection(
        Id=c["Id"],
        Changes=[
            {"LocationName": "carrier-b", "Action": "DELETE_IF_EXISTS", "CidrList": ["203.0.113.0/24"]},
            {"LocationName": "carrier-a", "Action": "PUT", "CidrList": ["203.0.113.0/24"]},
        ],
    )
    check(ask(server, "203.0.113.0", 24)[0] == ["192.0.2.1"], "moved block answers carrier-a")
    print("ok lab")


def moto(url):
    r53 = client(url)
    try:
        c = r53.create_cidr_collection(Name="carriers", CallerReference="carriers-1")["Collection"]
        print("moto created a collection:", c)
    except Exception as e:  # noqa: BLE001 - what moto does is the output
        print("moto refuses CreateCidrCollection:", type(e).__name__, str(e)[:200])
    print("ok moto")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "lab":
        lab(sys.argv[2], sys.argv[3])
    elif mode == "moto":
        moto(sys.argv[2])
    else:
        sys.exit(__doc__)
