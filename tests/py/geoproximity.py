"""Geoproximity alias records and EDNS Client Subnet, end to end.

Usage:
  python geoproximity.py lab HOST:PORT API_URL   the batch against the lab resolver, then DNS
                                                 checks with dnspython and dig
  python geoproximity.py table HOST:PORT API_URL the batch, against a resolver whose --geo-table
                                                 places 127.0.0.0/8 in New York
  python geoproximity.py moto MOTO_URL           the same batch against moto: prints what moto
                                                 accepts and stores

The batch: weighted pools bos.lab.test and nyc.lab.test, and at edge.lab.test two geoproximity
alias records (Coordinates Boston 42.36,-71.06 → bos, New York 40.71,-74.01 → nyc, both with
EvaluateTargetHealth). The lab resolver's built-in geo table places 127.0.0.0/10 in Boston and
127.64.0.0/10 in New York. Exits non-zero with a message on the first failure.
"""

import subprocess
import sys
import uuid

import boto3
import dns.edns
import dns.message
import dns.query
import dns.rcode
from botocore.exceptions import ClientError

BOS = {"127.0.0.21", "127.0.0.22"}
NYC = {"127.0.0.31", "127.0.0.32"}
POOL_TTL = 45


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def client(url):
    return boto3.client(
        "route53", endpoint_url=url, region_name="us-east-1", aws_access_key_id="lab", aws_secret_access_key="lab"
    )


def pool(action, name, set_id, address):
    return {
        "Action": action,
        "ResourceRecordSet": {
            "Name": name,
            "Type": "A",
            "SetIdentifier": set_id,
            "Weight": 1,
            "TTL": POOL_TTL,
            "ResourceRecords": [{"Value": address}],
        },
    }


def pools(action, zone="lab.test", only=None):
    """The pools' address sets (`only`: "bos" or "nyc" for one pool)."""
    out = []
    for a in sorted(BOS | NYC):
        city = "bos" if a in BOS else "nyc"
        if only in (None, city):
            out.append(pool(action, "%s.%s" % (city, zone), "%s-%s" % (city, a.rsplit(".", 1)[1]), a))
    return out


def edge(zone_id, set_id, lat, lon, target, zone="lab.test"):
    return {
        "Action": "CREATE",
        "ResourceRecordSet": {
            "Name": "edge." + zone,
            "Type": "A",
            "SetIdentifier": set_id,
            "GeoProximityLocation": {"Coordinates": {"Latitude": lat, "Longitude": lon}},
            "AliasTarget": {"HostedZoneId": zone_id, "DNSName": target + "." + zone, "EvaluateTargetHealth": True},
        },
    }


def batch(zone_id, zone="lab.test"):
    return pools("CREATE", zone) + [
        edge(zone_id, "boston", "42.36", "-71.06", "bos", zone),
        edge(zone_id, "new-york", "40.71", "-74.01", "nyc", zone),
    ]


def ecs_query(subnet, name="edge.lab.test"):
    address, prefix = subnet.split("/")
    option = dns.edns.ECSOption(address, int(prefix))
    return dns.message.make_query(name, "A", use_edns=0, payload=1232, options=[option])


def ask(query, host, port):
    return dns.query.udp(query, host, port=port, timeout=3)


def echoed(reply):
    found = [o for o in reply.options if o.otype == dns.edns.ECS]
    check(len(found) == 1, "one ECS option echoed: %s" % reply.options)
    return found[0]


def answers(reply):
    return {rd.address for rrset in reply.answer for rd in rrset}


def placed(subnet, host, port, want, scope):
    """Queries from `subnet` get only addresses of `want`, with the right echo; both of the
    weighted pool's sets show up."""
    seen = set()
    for _ in range(40):
        r = ask(ecs_query(subnet), host, port)
        check(r.rcode() == dns.rcode.NOERROR, "%s: NOERROR, got %s" % (subnet, dns.rcode.to_text(r.rcode())))
        got = answers(r)
        check(len(got) == 1 and got <= want, "%s: one address of %s, got %s" % (subnet, want, got))
        seen |= got
        rrset = r.answer[0]
        check(rrset.name.to_text() == "edge.lab.test.", "owner is the query name: %s" % rrset.name)
        check(rrset.ttl == POOL_TTL, "TTL is the target's: %s" % rrset.ttl)
        o = echoed(r)
        address, prefix = subnet.split("/")
        check(
            (o.address, o.srclen, o.scopelen) == (address, int(prefix), scope),
            "%s: echo %s/%s scope %s, want scope %s" % (subnet, o.address, o.srclen, o.scopelen, scope),
        )
    check(seen == want, "%s: the weighted pool answers with every set: %s" % (subnet, seen))


def seeded(dns_addr, api):
    """Writes the batch to the lab resolver; returns (host, port, boto3 client, zone id)."""
    host, port = dns_addr.rsplit(":", 1)
    r53 = client(api)
    zone_id = r53.list_hosted_zones_by_name(DNSName="lab.test")["HostedZones"][0]["Id"]
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": batch(zone_id)})
    return host, int(port), r53, zone_id


def table(dns_addr, api):
    host, port, _, _ = seeded(dns_addr, api)
    placed("127.1.2.0/24", host, port, NYC, 8)
    r = ask(dns.message.make_query("edge.lab.test", "A", use_edns=0), host, port)
    check(answers(r) <= NYC and answers(r), "source address 127.0.0.1: New York by the file: %s" % r)
    print("ok table")


def lab(dns_addr, api):
    host, port, r53, zone_id = seeded(dns_addr, api)
    listed = [
        s
        for s in r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        if s["Name"] == "edge.lab.test."
    ]
    check(
        len(listed) == 2 and all("GeoProximityLocation" in s and "AliasTarget" in s for s in listed),
        "the API lists both geoproximity aliases: %s" % listed,
    )

    placed("127.1.2.0/24", host, port, BOS, 10)
    placed("127.64.2.0/24", host, port, NYC, 10)
    # Without ECS, the source address (127.0.0.1: Boston) places the client; nothing is echoed.
    r = ask(dns.message.make_query("edge.lab.test", "A", use_edns=0), host, port)
    check(answers(r) <= BOS and not r.options, "source address: Boston, no echo: %s" % r)

    out = subprocess.run(
        ["dig", "@" + host, "-p", str(port), "edge.lab.test", "A", "+norec", "+subnet=127.64.9.0/24"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    check(out.returncode == 0, "dig failed: %s" % out.stderr)
    text = out.stdout
    check(
        "status: NOERROR" in text and "CLIENT-SUBNET: 127.64.9.0/24/10" in text,
        "dig +subnet: NOERROR with scope 10\n" + text,
    )
    dug = {line.split()[-1] for line in text.splitlines() if line.startswith("edge.lab.test.") and "\tA\t" in line}
    check(len(dug) == 1 and dug <= NYC, "dig +subnet gets a New York address: %s\n%s" % (dug, text))

    # Boston's pool loses its address records: Boston's clients get New York.
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": pools("DELETE", only="bos")})
    placed("127.1.2.0/24", host, port, NYC, 10)

    # A malformed option (bits set beyond SOURCE PREFIX-LENGTH 23) and two options: FORMERR.
    bad = dns.edns.GenericOption(dns.edns.ECS, bytes([0, 1, 23, 0, 127, 1, 3]))
    for options in ([bad], [dns.edns.ECSOption("127.1.2.0", 24)] * 2):
        q = dns.message.make_query("edge.lab.test", "A", use_edns=0, options=options)
        r = ask(q, host, port)
        check(r.rcode() == dns.rcode.FORMERR and not r.answer, "malformed ECS: FORMERR, got %s" % r)
    print("ok lab")


def moto(url):
    r53 = client(url)
    zone = "geo-%s.test" % uuid.uuid4().hex[:8]
    zone_id = r53.create_hosted_zone(Name=zone, CallerReference=zone)["HostedZone"]["Id"]
    try:
        r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": batch(zone_id, zone)})
    except ClientError as e:
        print("moto refuses the batch:", e.response["Error"]["Code"], e.response["Error"]["Message"])
        return
    listed = [
        s
        for s in r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        if s["Name"] == "edge.%s." % zone
    ]
    check(len(listed) == 2, "moto lists both edge records: %s" % listed)
    for s in listed:
        print(
            "moto stores",
            s["SetIdentifier"],
            "GeoProximityLocation" if "GeoProximityLocation" in s else "without GeoProximityLocation",
            "AliasTarget" if "AliasTarget" in s else "without AliasTarget",
            s.get("GeoProximityLocation"),
        )
    try:
        r53.change_resource_record_sets(
            HostedZoneId=zone_id, ChangeBatch={"Changes": pools("DELETE", zone, only="bos")}
        )
        print("moto accepts deleting the aliased pool")
    except ClientError as e:
        print("moto refuses deleting the aliased pool:", e.response["Error"]["Code"])
    print("ok moto")


if sys.argv[1] == "lab":
    lab(sys.argv[2], sys.argv[3])
elif sys.argv[1] == "table":
    table(sys.argv[2], sys.argv[3])
else:
    moto(sys.argv[2])
