"""One Route 53 API scenario, run with boto3 against moto and against the lab resolver.

Usage: python route53_differential.py MOTO_URL RESOLVER_URL
Every step's outcome is normalised and compared. Where moto is laxer than Route 53 (exact-match
DELETE, duplicate CREATE, weighted pagination, …) the resolver must show Route 53's documented
behaviour instead; those steps are listed in ROUTE53_ONLY with what Route 53 does.
"""

import json
import sys
import uuid

from route53_compare import client, compare, recorder

# step -> Route 53's documented outcome (an error code, or "ok"), asserted on the resolver only.
ROUTE53_ONLY = {
    "duplicate-create": "InvalidChangeBatch",
    "delete-wrong-values": "InvalidChangeBatch",
    "delete-missing": "InvalidChangeBatch",
    "weight-out-of-range": "InvalidInput",
    "mix-weighted-and-simple": "InvalidChangeBatch",
    "delete-nonempty-zone": "HostedZoneNotEmpty",
    "list-weighted-paged": "ok",
    "atomic-batch": "InvalidChangeBatch",
    "after-atomic-batch": "ok",
    "no-such-change": "NoSuchChange",
}


def rr(action, name, rtype, values, ttl=30, set_id=None, weight=None):
    rs = {"Name": name, "Type": rtype, "TTL": ttl, "ResourceRecords": [{"Value": v} for v in values]}
    if set_id is not None:
        rs["SetIdentifier"] = set_id
        rs["Weight"] = weight
    return {"Action": action, "ResourceRecordSet": rs}


def norm_sets(sets, zone):
    out = []
    for s in sets:
        if s["Name"] == zone and s["Type"] in ("NS", "SOA"):
            out.append([s["Name"], s["Type"]])
            continue
        out.append(
            [
                s["Name"],
                s["Type"],
                s.get("SetIdentifier"),
                s.get("Weight"),
                s.get("TTL"),
                sorted(r["Value"] for r in s.get("ResourceRecords", [])),
            ]
        )
    return out


def scenario(url):
    r53 = client(url)
    zone = "diff-%s.test." % uuid.uuid4().hex[:8]
    out = {}
    step = recorder(out)

    created = r53.create_hosted_zone(Name=zone, CallerReference=zone)
    zid = created["HostedZone"]["Id"]
    out["create-zone"] = [
        "ok",
        [
            created["HostedZone"]["Name"],
            created["HostedZone"]["Config"].get("PrivateZone"),
            created["ChangeInfo"]["Status"] in ("PENDING", "INSYNC"),
            len(created["DelegationSet"]["NameServers"]) > 0,
        ],
    ]
    step("get-zone", lambda: r53.get_hosted_zone(Id=zid)["HostedZone"]["Name"])
    step("zones-by-name", lambda: [z["Name"] for z in r53.list_hosted_zones_by_name(DNSName=zone)["HostedZones"]][:1])
    step("zones-listed", lambda: zid in [z["Id"] for z in r53.list_hosted_zones()["HostedZones"]])
    step("apex-records", lambda: norm_sets(r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"], zone))

    def change(*cs):
        status = r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": list(cs)})["ChangeInfo"]
        return status["Status"] in ("PENDING", "INSYNC")

    www = "www." + zone
    step(
        "create-weighted",
        lambda: change(
            rr("CREATE", www, "A", ["192.0.2.1"], set_id="w1", weight=10),
            rr("CREATE", www, "A", ["192.0.2.2"], set_id="w2", weight=20),
            rr("CREATE", www, "A", ["192.0.2.3", "192.0.2.4"], set_id="w3", weight=0),
            rr("CREATE", "_wavelb." + www, "TXT", ['"v=1" "owner=x"'], set_id="w1", weight=0),
        ),
    )
    step(
        "list-after-create",
        lambda: norm_sets(r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"], zone),
    )
    step("upsert", lambda: change(rr("UPSERT", www, "A", ["192.0.2.1"], set_id="w1", weight=50)))
    step("delete-exact", lambda: change(rr("DELETE", www, "A", ["192.0.2.2"], set_id="w2", weight=20)))
    step(
        "list-after-delete",
        lambda: norm_sets(
            r53.list_resource_record_sets(HostedZoneId=zid, StartRecordName=www, StartRecordType="A")[
                "ResourceRecordSets"
            ],
            zone,
        ),
    )
    step(
        "create-simple",
        lambda: change(*[rr("CREATE", "p%d.%s" % (i, zone), "A", ["198.51.100.%d" % i]) for i in range(10)]),
    )

    def paged(max_items, **start):
        names, pages = [], 0
        kwargs = dict(HostedZoneId=zid, MaxItems=str(max_items), **start)
        while pages < 30:
            page = r53.list_resource_record_sets(**kwargs)
            pages += 1
            names += [[s["Name"], s["Type"], s.get("SetIdentifier")] for s in page["ResourceRecordSets"]]
            if not page["IsTruncated"]:
                return [names, pages]
            kwargs = dict(
                HostedZoneId=zid,
                MaxItems=str(max_items),
                StartRecordName=page["NextRecordName"],
                StartRecordType=page["NextRecordType"],
            )
            if "NextRecordIdentifier" in page:
                kwargs["StartRecordIdentifier"] = page["NextRecordIdentifier"]
        return [names, "did not finish"]

    step("list-paged", lambda: paged(3, StartRecordName="p0." + zone))
    step(
        "create-other-weighted",
        lambda: change(
            *[rr("CREATE", "pw." + zone, "A", ["203.0.113.%d" % i], set_id="s%02d" % i, weight=1) for i in range(7)]
        ),
    )
    step("list-weighted-paged", lambda: paged(3, StartRecordName="pw." + zone, StartRecordType="A"))
    step("duplicate-create", lambda: change(rr("CREATE", www, "A", ["192.0.2.1"], set_id="w1", weight=50)))
    step("delete-wrong-values", lambda: change(rr("DELETE", www, "A", ["192.0.2.99"], set_id="w1", weight=50)))
    step("delete-missing", lambda: change(rr("DELETE", "ghost." + zone, "A", ["192.0.2.1"])))
    step("outside-zone", lambda: change(rr("CREATE", "www.elsewhere.test.", "A", ["192.0.2.1"])))
    step("weight-out-of-range", lambda: change(rr("CREATE", www, "A", ["192.0.2.1"], set_id="big", weight=256)))
    step("mix-weighted-and-simple", lambda: change(rr("CREATE", www, "A", ["192.0.2.1"])))
    step(
        "atomic-batch",
        lambda: change(
            rr("CREATE", "atomic." + zone, "A", ["192.0.2.7"]), rr("DELETE", "ghost." + zone, "A", ["192.0.2.1"])
        ),
    )
    step(
        "after-atomic-batch",
        lambda: [
            s["Name"]
            for s in r53.list_resource_record_sets(HostedZoneId=zid, StartRecordName="atomic." + zone, MaxItems="1")[
                "ResourceRecordSets"
            ]
        ],
    )
    step("no-such-zone", lambda: r53.get_hosted_zone(Id="ZNOSUCHZONE00")["HostedZone"]["Name"])
    step("no-such-change", lambda: r53.get_change(Id="CNOSUCHCHANGE0")["ChangeInfo"]["Status"])
    step("delete-nonempty-zone", lambda: r53.delete_hosted_zone(Id=zid)["ChangeInfo"]["Status"] != "")
    return out, zone


def renamed(outcomes, zone):
    """`outcomes` with the scenario's zone name written as ZONE., so that runs compare."""
    return json.loads(json.dumps(outcomes).replace(zone, "ZONE."))


def main():
    moto, moto_zone = scenario(sys.argv[1])
    resolver, res_zone = scenario(sys.argv[2])
    failures = compare(renamed(moto, moto_zone), renamed(resolver, res_zone), ROUTE53_ONLY)
    if resolver["after-atomic-batch"][1] and resolver["after-atomic-batch"][1][0] == "atomic." + res_zone:
        failures.append("the failed batch was partly applied on the resolver")
    names, pages = resolver["list-weighted-paged"][1]
    weighted = [n[2] for n in names if n[0] == "pw." + res_zone]
    if weighted != ["s%02d" % i for i in range(7)] or pages == "did not finish":
        failures.append("weighted pagination on the resolver: %s in %s pages" % (names, pages))
    if failures:
        sys.exit("FAILED:\n" + "\n".join(failures))
    print("ok: %d steps compared" % len(resolver))


main()
