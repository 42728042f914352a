"""Route 53 health checks, tags and limits with boto3: a differential against moto, and the lab
resolver running its health checks against real HTTP targets on 127.0.0.1.

Usage:
  python route53_health.py diff MOTO_URL RESOLVER_URL
      The same calls against both; outcomes are normalised and compared. Where moto is laxer
      than Route 53 or lacks the call, ROUTE53_ONLY says what Route 53 documents, and the
      resolver alone must show it.
  python route53_health.py dns RESOLVER_URL DNS_HOST DNS_PORT
      Two HTTP targets, a health check each, two weighted records carrying them: a target that
      goes down stops being answered; when both are down, both are answered again.
  python route53_health.py checkers RESOLVER_URL
      Regions as Route 53 validates it (3-64 of the eight checker Regions), observations named
      after each checker Region in turn, and a string match whose body comes after the status
      line's two seconds but within its own.
  python route53_health.py secrets RESOLVER_URL
      Targets that answer with a secret in their first line, reason phrase, headers or body: no
      GetHealthCheckStatus answer quotes it.
  python route53_health.py metadata
      A fake instance metadata service on port 80 of every address of its namespace: prints a
      JSON ready line, then one line per connection it accepts.
  python route53_health.py refuse RESOLVER_URL
      In the namespace of `metadata`: reaches the fake through its addresses once (printing how
      many connections that made), then every spelling of a refused address is refused by
      CreateHealthCheck and UpdateHealthCheck, and a control check's probe is observed (so the
      checker ran). Prints the ids of three TCP checks at 127.0.0.2-4 port 81 for `forge`.
  python route53_health.py forge STATE_FILE OLD=NEW...
      Rewrites a stopped resolver's state file (its payload and checksum), as an older version
      might have written it.
  python route53_health.py stored RESOLVER_URL CHECK_ID...
      Each check reports the lab's refusal to probe its stored address.
"""

import datetime
import http.server
import json
import os
import socket
import ssl
import sys
import tempfile
import threading
import time
import uuid

import boto3
import botocore.config
import dns.message
import dns.query
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from route53_compare import client, compare, recorder

# step -> Route 53's documented outcome (an error code, or "ok"), asserted on the resolver only.
ROUTE53_ONLY = {
    # CreateHealthCheck's CallerReference idempotency (the API reference's CallerReference).
    "create-same-reference-same-config": "ok",
    "create-same-reference-other-config": "HealthCheckAlreadyExists",
    "create-deleted-reference": "HealthCheckAlreadyExists",
    # HealthCheckConfig's documented ranges.
    "interval-20": "InvalidInput",
    "threshold-11": "InvalidInput",
    "tcp-without-port": "InvalidInput",
    # UpdateHealthCheck's HealthCheckVersion: one more with every update, checked when given.
    "update-version": "ok",
    "update-stale-version": "HealthCheckVersionMismatch",
    # GetHealthCheckStatus: the lab's own checker, not a fixed answer.
    "status": "ok",
    "count": "ok",
    "list-paged": "ok",
    # ChangeResourceRecordSets with an unknown HealthCheckId.
    "record-unknown-check": "NoSuchHealthCheck",
    # Tags: AddTags holds at most 10; the resource must exist.
    "tags-11": "InvalidInput",
    "tags-missing-zone": "NoSuchHostedZone",
    "tags-many-11-ids": "InvalidInput",
    # GetAccountLimit and GetHostedZoneLimit (moto has neither).
    "account-limit-zones": "ok",
    "account-limit-checks": "ok",
    "account-limit-bad": "InvalidInput",
    "zone-limit-rrsets": "ok",
    "zone-limit-vpcs": "HostedZoneNotPrivate",
    "get-deleted": "NoSuchHealthCheck",
}


def http_config(port, **extra):
    config = {
        "Type": "HTTP",
        "IPAddress": "127.0.0.1",
        "Port": port,
        "ResourcePath": "/health",
        "RequestInterval": 10,
        "FailureThreshold": 1,
    }
    config.update(extra)
    return config


def norm_check(hc):
    c = hc["HealthCheckConfig"]
    return [
        c["Type"],
        c.get("IPAddress"),
        c.get("Port"),
        c.get("ResourcePath"),
        c.get("RequestInterval"),
        c.get("FailureThreshold"),
        bool(c.get("Inverted")),
        bool(c.get("Disabled")),
        hc["HealthCheckVersion"],
        len(hc["Id"]) > 0,
    ]


def norm_tags(tag_set):
    return [tag_set["ResourceType"], sorted([t["Key"], t["Value"]] for t in tag_set["Tags"])]


def scenario(url):
    r53 = client(url)
    zone = "hc-%s.test." % uuid.uuid4().hex[:8]
    ref = uuid.uuid4().hex
    out = {}
    step = recorder(out)

    zid = r53.create_hosted_zone(Name=zone, CallerReference=zone)["HostedZone"]["Id"].split("/")[-1]
    created = r53.create_health_check(CallerReference=ref, HealthCheckConfig=http_config(8080))
    hid = created["HealthCheck"]["Id"]
    out["create"] = ["ok", norm_check(created["HealthCheck"])]
    step("get", lambda: norm_check(r53.get_health_check(HealthCheckId=hid)["HealthCheck"]))
    step("listed", lambda: hid in [h["Id"] for h in r53.list_health_checks()["HealthChecks"]])
    step(
        "create-same-reference-same-config",
        lambda: (
            r53.create_health_check(CallerReference=ref, HealthCheckConfig=http_config(8080))["HealthCheck"]["Id"]
            == hid
        ),
    )
    step(
        "create-same-reference-other-config",
        lambda: r53.create_health_check(CallerReference=ref, HealthCheckConfig=http_config(8081))["HealthCheck"]["Id"],
    )
    step(
        "interval-20",
        lambda: r53.create_health_check(
            CallerReference=uuid.uuid4().hex, HealthCheckConfig=http_config(80, RequestInterval=20)
        )["HealthCheck"]["Id"],
    )
    step(
        "threshold-11",
        lambda: r53.create_health_check(
            CallerReference=uuid.uuid4().hex, HealthCheckConfig=http_config(80, FailureThreshold=11)
        )["HealthCheck"]["Id"],
    )
    step(
        "tcp-without-port",
        lambda: r53.create_health_check(
            CallerReference=uuid.uuid4().hex, HealthCheckConfig={"Type": "TCP", "IPAddress": "127.0.0.1"}
        )["HealthCheck"]["Id"],
    )
    tcp = r53.create_health_check(
        CallerReference=uuid.uuid4().hex, HealthCheckConfig={"Type": "TCP", "IPAddress": "127.0.0.1", "Port": 9}
    )
    tcp_id = tcp["HealthCheck"]["Id"]
    out["create-tcp"] = ["ok", norm_check(tcp["HealthCheck"])]
    step(
        "create-calculated",
        lambda: (
            r53.create_health_check(
                CallerReference=uuid.uuid4().hex,
                HealthCheckConfig={"Type": "CALCULATED", "HealthThreshold": 1, "ChildHealthChecks": [hid, tcp_id]},
            )["HealthCheck"]["HealthCheckConfig"]["ChildHealthChecks"]
            == [hid, tcp_id]
        ),
    )
    step(
        "update",
        lambda: norm_check(
            r53.update_health_check(HealthCheckId=hid, HealthCheckVersion=1, FailureThreshold=2)["HealthCheck"]
        )[:-2],
    )
    step("update-version", lambda: r53.get_health_check(HealthCheckId=hid)["HealthCheck"]["HealthCheckVersion"])
    step(
        "update-stale-version",
        lambda: r53.update_health_check(HealthCheckId=hid, HealthCheckVersion=1, FailureThreshold=3)["HealthCheck"][
            "HealthCheckVersion"
        ],
    )
    step(
        "status",
        lambda: [o["Region"] for o in r53.get_health_check_status(HealthCheckId=hid)["HealthCheckObservations"]][:0],
    )
    step("count", lambda: r53.get_health_check_count()["HealthCheckCount"])

    def paged():
        ids, marker, pages = [], None, 0
        while pages < 10:
            page = r53.list_health_checks(MaxItems="1", **({"Marker": marker} if marker else {}))
            pages += 1
            ids += [h["Id"] for h in page["HealthChecks"]]
            if not page.get("IsTruncated"):
                return [sorted(ids) == ids, len(ids), pages]
            marker = page["NextMarker"]
        return "did not finish"

    step("list-paged", paged)

    www = "www." + zone

    def record(action, check, value, set_id):
        return {
            "Action": action,
            "ResourceRecordSet": {
                "Name": www,
                "Type": "A",
                "TTL": 30,
                "SetIdentifier": set_id,
                "Weight": 1,
                "HealthCheckId": check,
                "ResourceRecords": [{"Value": value}],
            },
        }

    def change(*cs):
        status = r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": list(cs)})["ChangeInfo"]
        return status["Status"] != ""

    step("record-with-check", lambda: change(record("CREATE", hid, "192.0.2.1", "a")))
    step(
        "record-listed",
        lambda: [
            s.get("HealthCheckId") == hid
            for s in r53.list_resource_record_sets(HostedZoneId=zid, StartRecordName=www, StartRecordType="A")[
                "ResourceRecordSets"
            ]
            if s["Name"] == www
        ],
    )
    step(
        "record-unknown-check",
        lambda: change(record("CREATE", "00000000-0000-4000-8000-000000000000", "192.0.2.2", "b")),
    )

    step(
        "tags-add",
        lambda: (
            r53.change_tags_for_resource(
                ResourceType="hostedzone",
                ResourceId=zid,
                AddTags=[{"Key": "team", "Value": "edge"}, {"Key": "env", "Value": "lab"}],
            )
            is not None
        ),
    )
    step(
        "tags-add-check",
        lambda: (
            r53.change_tags_for_resource(
                ResourceType="healthcheck", ResourceId=hid, AddTags=[{"Key": "role", "Value": "origin"}]
            )
            is not None
        ),
    )
    step(
        "tags-remove",
        lambda: (
            r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zid, RemoveTagKeys=["env"]) is not None
        ),
    )
    step(
        "tags-list",
        lambda: norm_tags(r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zid)["ResourceTagSet"]),
    )
    step(
        "tags-list-check",
        lambda: norm_tags(r53.list_tags_for_resource(ResourceType="healthcheck", ResourceId=hid)["ResourceTagSet"]),
    )
    step(
        "tags-many",
        lambda: [
            norm_tags(s)
            for s in r53.list_tags_for_resources(ResourceType="hostedzone", ResourceIds=[zid])["ResourceTagSets"]
        ],
    )
    step(
        "tags-11",
        lambda: (
            r53.change_tags_for_resource(
                ResourceType="hostedzone", ResourceId=zid, AddTags=[{"Key": "k%d" % i, "Value": "v"} for i in range(11)]
            )
            is not None
        ),
    )
    step(
        "tags-missing-zone",
        lambda: (
            r53.change_tags_for_resource(
                ResourceType="hostedzone", ResourceId="ZNOSUCHZONE0000", AddTags=[{"Key": "k", "Value": "v"}]
            )
            is not None
        ),
    )
    step(
        "tags-many-11-ids",
        lambda: r53.list_tags_for_resources(ResourceType="hostedzone", ResourceIds=[zid] * 11) is not None,
    )

    step(
        "account-limit-zones",
        lambda: (lambda r: [r["Limit"]["Type"], r["Limit"]["Value"], r["Count"] >= 1])(
            r53.get_account_limit(Type="MAX_HOSTED_ZONES_BY_OWNER")
        ),
    )
    step(
        "account-limit-checks",
        lambda: (lambda r: [r["Limit"]["Value"], r["Count"]])(r53.get_account_limit(Type="MAX_HEALTH_CHECKS_BY_OWNER")),
    )
    step("account-limit-bad", lambda: r53.get_account_limit(Type="MAX_NOTHING")["Count"])
    step(
        "zone-limit-rrsets",
        lambda: (lambda r: [r["Limit"]["Value"], r["Count"]])(
            r53.get_hosted_zone_limit(Type="MAX_RRSETS_BY_ZONE", HostedZoneId=zid)
        ),
    )
    step(
        "zone-limit-vpcs",
        lambda: r53.get_hosted_zone_limit(Type="MAX_VPCS_ASSOCIATED_BY_ZONE", HostedZoneId=zid)["Count"],
    )

    # Route 53 lets a health check that records use be deleted.
    step("delete-in-use", lambda: r53.delete_health_check(HealthCheckId=hid) is not None)
    step("get-deleted", lambda: r53.get_health_check(HealthCheckId=hid)["HealthCheck"]["Id"])
    step(
        "create-deleted-reference",
        lambda: r53.create_health_check(CallerReference=ref, HealthCheckConfig=http_config(8080))["HealthCheck"]["Id"],
    )
    return out


def diff(moto_url, resolver_url):
    moto = scenario(moto_url)
    resolver = scenario(resolver_url)
    failures = compare(moto, resolver, ROUTE53_ONLY)
    # What the resolver must answer exactly, beyond the error codes.
    expect = {
        "count": 3,
        "update-version": 2,
        "list-paged": [True, 3, 3],
        "account-limit-zones": ["MAX_HOSTED_ZONES_BY_OWNER", 500, True],
        "account-limit-checks": [200, 3],
        "zone-limit-rrsets": [10000, 3],
        "tags-list": ["hostedzone", [["team", "edge"]]],
    }
    for step, want in expect.items():
        if resolver[step][1] != want:
            failures.append("%s: the resolver answers %s, expected %s" % (step, resolver[step][1], want))
    if failures:
        sys.exit("FAILED:\n" + "\n".join(failures))
    print("ok: %d steps compared" % len(resolver))


class Target(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"healthy"
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(tls_dir=None):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
    if tls_dir is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self_signed(tls_dir))
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def self_signed(directory):
    """A self-signed certificate for "target.lab.test" (Route 53 does not verify certificates)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "target.lab.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert_path, key_path


def answered(host, port, name, queries=40):
    seen = set()
    for _ in range(queries):
        reply = dns.query.udp(dns.message.make_query(name, "A"), host, port=port, timeout=3)
        for rrset in reply.answer:
            seen.update(r.address for r in rrset)
    return seen


def wait_status(r53, check, prefix, deadline=45):
    end = time.time() + deadline
    while time.time() < end:
        observations = r53.get_health_check_status(HealthCheckId=check)["HealthCheckObservations"]
        if observations and observations[0]["StatusReport"]["Status"].startswith(prefix):
            return observations[0]
        time.sleep(0.5)
    sys.exit("FAILED: health check %s did not report %r within %ds" % (check, prefix, deadline))


def wait_answers(host, port, name, want, deadline=10):
    end = time.time() + deadline
    seen = None
    while time.time() < end:
        seen = answered(host, port, name)
        if seen == want:
            return
        time.sleep(0.2)
    sys.exit("FAILED: %s answered %s, expected %s" % (name, sorted(seen), sorted(want)))


def kinds(r53):
    """HTTPS (self-signed, not verified), the string matches, TCP and CALCULATED, each as Route 53
    reports it."""
    with tempfile.TemporaryDirectory() as directory:
        secure, plain = serve(directory), serve()

        def port_of(server):
            return server.server_address[1]

        cases = [
            (
                {
                    "Type": "HTTPS_STR_MATCH",
                    "SearchString": "healthy",
                    "FullyQualifiedDomainName": "target.lab.test",
                    "ResourcePath": "/health",
                    "Port": port_of(secure),
                },
                "Success: HTTP Status Code 200, OK",
            ),
            (
                {"Type": "HTTP_STR_MATCH", "SearchString": "absent", "ResourcePath": "/health", "Port": port_of(plain)},
                "Failure: HTTP Status Code 200, OK. The search string was not found",
            ),
            ({"Type": "HTTP", "ResourcePath": "/missing", "Port": port_of(plain)}, "Failure: HTTP Status Code 404"),
            ({"Type": "TCP", "Port": port_of(plain)}, "Success: TCP connection established"),
        ]
        ids = []
        for extra, want in cases:
            config = {"IPAddress": "127.0.0.1", "RequestInterval": 10, "FailureThreshold": 1}
            config.update(extra)
            check = r53.create_health_check(CallerReference=uuid.uuid4().hex, HealthCheckConfig=config)["HealthCheck"][
                "Id"
            ]
            ids.append(check)
            report = wait_status(r53, check, want.split(":")[0])["StatusReport"]["Status"]
            if not report.startswith(want):
                sys.exit("FAILED: %s reported %r, expected %r" % (extra["Type"], report, want))
            print("%s: %s" % (extra["Type"], report))
        calculated = r53.create_health_check(
            CallerReference=uuid.uuid4().hex,
            HealthCheckConfig={"Type": "CALCULATED", "HealthThreshold": 2, "ChildHealthChecks": ids},
        )["HealthCheck"]["Id"]
        try:
            r53.get_health_check_status(HealthCheckId=calculated)
            sys.exit("FAILED: GetHealthCheckStatus of a CALCULATED check answered")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "InvalidInput", e.response
        for check in ids + [calculated]:
            r53.delete_health_check(HealthCheckId=check)
        secure.shutdown()
        plain.shutdown()


def dns_scenario(resolver_url, host, port):
    r53 = client(resolver_url)
    port = int(port)
    zone = "hcdns-%s.test." % uuid.uuid4().hex[:8]
    zid = r53.create_hosted_zone(Name=zone, CallerReference=zone)["HostedZone"]["Id"]
    one, two = serve(), serve()
    checks = []
    for server in (one, two):
        hc = r53.create_health_check(
            CallerReference=uuid.uuid4().hex, HealthCheckConfig=http_config(server.server_address[1])
        )
        checks.append(hc["HealthCheck"]["Id"])
    www = "www." + zone
    r53.change_resource_record_sets(
        HostedZoneId=zid,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": www,
                        "Type": "A",
                        "TTL": 5,
                        "SetIdentifier": sid,
                        "Weight": 1,
                        "HealthCheckId": check,
                        "ResourceRecords": [{"Value": value}],
                    },
                }
                for sid, check, value in (("one", checks[0], "192.0.2.1"), ("two", checks[1], "192.0.2.2"))
            ]
        },
    )
    for check in checks:
        ok = wait_status(r53, check, "Success")
        assert ok["Region"] in CHECKER_REGIONS and ok["IPAddress"] == "127.0.0.1", ok
        assert ok["StatusReport"]["Status"] == "Success: HTTP Status Code 200, OK", ok
    wait_answers(host, port, www, {"192.0.2.1", "192.0.2.2"})
    kinds(r53)
    two.shutdown()
    two.server_close()
    failed = wait_status(r53, checks[1], "Failure")
    print("target two down:", failed["StatusReport"]["Status"])
    wait_answers(host, port, www, {"192.0.2.1"})
    one.shutdown()
    one.server_close()
    wait_status(r53, checks[0], "Failure")
    # Every record unhealthy: Route 53 answers as if all were healthy.
    wait_answers(host, port, www, {"192.0.2.1", "192.0.2.2"})
    print("ok: unhealthy skipped, all unhealthy answered")


# Route 53's checker Regions: the valid values of HealthCheckRegion (API reference, HealthCheckConfig).
CHECKER_REGIONS = [
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
]


def refused(call, what, failures):
    try:
        call()
        failures.append("%s was accepted" % what)
    except ClientError as e:
        if e.response["Error"]["Code"] != "InvalidInput":
            failures.append("%s: %s" % (what, e.response["Error"]))


def wait_observations(r53, check, count, deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        observations = r53.get_health_check_status(HealthCheckId=check)["HealthCheckObservations"]
        if len(observations) >= count:
            return observations
        time.sleep(0.5)
    sys.exit("FAILED: health check %s had fewer than %d observations within %ds" % (check, count, deadline))


def checkers_scenario(resolver_url):
    # boto3 checks Regions' length itself; the resolver must refuse what slips past it.
    r53 = boto3.client(
        "route53",
        endpoint_url=resolver_url,
        region_name="us-east-1",
        aws_access_key_id="lab",
        aws_secret_access_key="lab",
        config=botocore.config.Config(parameter_validation=False),
    )
    target = serve()
    port = target.server_address[1]
    failures = []
    for regions, why in (
        (CHECKER_REGIONS[:2], "two Regions"),
        (["lab", "us-east-1", "us-west-1"], "Region lab"),
        (CHECKER_REGIONS * 8 + ["us-east-1"], "65 Regions"),
    ):
        refused(
            lambda regions=regions: r53.create_health_check(
                CallerReference=uuid.uuid4().hex, HealthCheckConfig=http_config(port, Regions=regions)
            ),
            "CreateHealthCheck with %s" % why,
            failures,
        )
    three = ["sa-east-1", "eu-west-1", "ap-northeast-1"]
    check = r53.create_health_check(
        CallerReference=uuid.uuid4().hex, HealthCheckConfig=http_config(port, Regions=three)
    )["HealthCheck"]
    if check["HealthCheckConfig"]["Regions"] != three:
        failures.append("Regions echoed as %s" % check["HealthCheckConfig"]["Regions"])
    default = r53.create_health_check(CallerReference=uuid.uuid4().hex, HealthCheckConfig=http_config(port))[
        "HealthCheck"
    ]["Id"]
    refused(
        lambda: r53.update_health_check(HealthCheckId=check["Id"], Regions=three[:2]),
        "UpdateHealthCheck with two Regions",
        failures,
    )
    # Each probe is named after the next configured Region; the newest observation comes first.
    first = wait_observations(r53, check["Id"], 1)
    second = wait_observations(r53, check["Id"], 2)
    named = [o["Region"] for o in second]
    if [first[0]["Region"]] != three[:1] or named != [three[1], three[0]]:
        failures.append(
            "observations named %s then %s, expected %s in turn" % ([o["Region"] for o in first], named, three)
        )
    print("observations named: %s" % ", ".join(named))
    # A check without Regions: all eight in turn, from the first (oldest last).
    observed = [o["Region"] for o in wait_observations(r53, default, 1)][::-1]
    if observed != CHECKER_REGIONS[: len(observed)]:
        failures.append("a check without Regions was observed from %s" % observed)
    reset = r53.update_health_check(HealthCheckId=check["Id"], ResetElements=["Regions"])["HealthCheck"]
    if reset["HealthCheckConfig"].get("Regions"):
        failures.append("ResetElements Regions left %s" % reset["HealthCheckConfig"]["Regions"])
    # A string match: the status line after 1.5 s, the body 1.5 s later (3 s after the connection).
    slow = scripted_server([(1.5, b"HTTP/1.1 200 OK\r\n\r\n"), (1.5, b"the needle")])
    matched = r53.create_health_check(
        CallerReference=uuid.uuid4().hex,
        HealthCheckConfig={
            "Type": "HTTP_STR_MATCH",
            "IPAddress": "127.0.0.1",
            "Port": slow.getsockname()[1],
            "ResourcePath": "/",
            "SearchString": "needle",
            "RequestInterval": 10,
            "FailureThreshold": 1,
        },
    )["HealthCheck"]["Id"]
    report = wait_observations(r53, matched, 1)[0]["StatusReport"]["Status"]
    print("slow body: %s" % report)
    if report != "Success: HTTP Status Code 200, OK":
        failures.append("a body 1.5 s after the status line got %r" % report)
    for c in (check["Id"], default, matched):
        r53.delete_health_check(HealthCheckId=c)
    slow.close()
    target.shutdown()
    if failures:
        sys.exit("FAILED:\n" + "\n".join(failures))
    print("ok: Regions validated, observations named after checker Regions, the body timed on its own")


def scripted_server(steps, keep_open=True):
    """A TCP server on 127.0.0.1 answering every connection, after the request head, with
    `steps` ([(pause seconds, bytes)]), then closing it, or with `keep_open` keeping it open
    until the client hangs up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def one(conn):
        with conn:
            try:
                conn.settimeout(10 if keep_open else 2)
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                for pause, data in steps:
                    time.sleep(pause)  # the target's own slowness, not a synchronisation
                    conn.sendall(data)
                if keep_open:
                    conn.recv(1)
            except OSError:
                pass

    def answer():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=one, args=(conn,), daemon=True).start()

    threading.Thread(target=answer, daemon=True).start()
    return listener


# What a hostile target sends; none of it may reach a status report.
SECRET = "AKIAIOSFODNN7EXAMPLE"


def raw_server(reply):
    """A TCP server on 127.0.0.1 answering every connection with `reply` after the request head."""
    return scripted_server([(0, reply)], keep_open=False)


def secrets_scenario(resolver_url):
    r53 = client(resolver_url)
    cases = [
        (
            "HTTP",
            "%s wJalrXUtnFEMI/K7MDENG\r\n\r\n" % SECRET,
            "Failure: The endpoint's response is not a valid HTTP response",
        ),
        ("HTTP", "HTTP/1.1 200 %s\r\nContent-Length: 2\r\n\r\nhi" % SECRET, "Success: HTTP Status Code 200, OK"),
        (
            "HTTP",
            "HTTP/1.1 500 %s\r\nX-Key: %s\r\n\r\n%s" % (SECRET, SECRET, SECRET),
            "Failure: HTTP Status Code 500, Internal Server Error",
        ),
        ("HTTP", "HTTP/1.1 599 %s\r\n\r\n" % SECRET, "Failure: HTTP Status Code 599"),
        (
            "HTTP_STR_MATCH",
            "HTTP/1.1 200 %s\r\n\r\n%s" % (SECRET, SECRET),
            "Failure: HTTP Status Code 200, OK. The search string was not found",
        ),
    ]
    servers = []
    for kind, reply, want in cases:
        server = raw_server(reply.encode())
        servers.append(server)
        config = {
            "Type": kind,
            "IPAddress": "127.0.0.1",
            "Port": server.getsockname()[1],
            "ResourcePath": "/",
            "RequestInterval": 10,
            "FailureThreshold": 1,
        }
        if kind == "HTTP_STR_MATCH":
            config["SearchString"] = "absent"
        check = r53.create_health_check(CallerReference=uuid.uuid4().hex, HealthCheckConfig=config)["HealthCheck"]["Id"]
        observation = wait_status(r53, check, want.split(":")[0])
        status = r53.get_health_check_status(HealthCheckId=check)
        if SECRET in repr(status) or SECRET in repr(r53.get_health_check(HealthCheckId=check)):
            sys.exit("FAILED: the status of %s quotes the target: %r" % (kind, status))
        report = observation["StatusReport"]["Status"]
        if not report.startswith(want):
            sys.exit("FAILED: %r reported %r, expected %r" % (reply, report, want))
        print("reported: %s" % report)
    for server in servers:
        server.close()
    print("ok: %d hostile targets, no secret quoted" % len(cases))


def metadata():
    """The fake metadata service: [::]:80, IPv4 too (IPv6-only off)."""
    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("::", 80))
    listener.listen(64)
    print(json.dumps({"metadata": "[::]:80"}), flush=True)
    while True:
        conn, peer = listener.accept()
        print("connection from %s to %s" % (peer[0], conn.getsockname()[0]), flush=True)
        with conn:
            body = b'{"SecretAccessKey": "%s"}' % SECRET.encode()
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            except OSError:
                pass


# Every spelling of a refused address (issue #23's list and more).
REFUSED_SPELLINGS = [
    "169.254.169.254",
    "::ffff:169.254.169.254",
    "::ffff:a9fe:a9fe",
    "0:0:0:0:0:ffff:a9fe:a9fe",
    "::ffff:169.254.170.2",
    "169.254.170.2",
    "::169.254.169.254",
    "64:ff9b::a9fe:a9fe",
    "::ffff:0.0.0.0",
    "0.1.2.3",
    "0.0.0.0",
    "::",
    "fd00:ec2::254",
    "fe80::1",
    "64:ff9b:1::a9fe:a9fe",
    "0000:0000:0000:0000:0000:FFFF:A9FE:A9FE",
]
# The ones a plain client in the namespace reaches the fake at (the test assigns their addresses
# to its loopback; 0.0.0.0 and :: reach the host itself); fe80::1 needs an interface.
FAKE_REACHABLE = [a for a in REFUSED_SPELLINGS if not a.startswith("fe80")]


def refuse_scenario(resolver_url):
    for address in FAKE_REACHABLE:
        with socket.create_connection((address, 80), timeout=5) as s:
            if SECRET.encode() not in s.recv(4096):
                sys.exit("FAILED: the fake metadata service did not answer at %s" % address)
    print("reached the fake %d times" % len(FAKE_REACHABLE), flush=True)
    r53 = client(resolver_url)
    victims = []
    for n in (2, 3, 4):
        victims.append(
            r53.create_health_check(
                CallerReference=uuid.uuid4().hex,
                HealthCheckConfig={
                    "Type": "TCP",
                    "IPAddress": "127.0.0.%d" % n,
                    "Port": 81,
                    "RequestInterval": 10,
                    "FailureThreshold": 1,
                },
            )["HealthCheck"]["Id"]
        )
    failures = []
    for address in REFUSED_SPELLINGS:
        for kind in ("HTTP", "TCP"):
            try:
                r53.create_health_check(
                    CallerReference=uuid.uuid4().hex,
                    HealthCheckConfig={
                        "Type": kind,
                        "IPAddress": address,
                        "Port": 80,
                        "RequestInterval": 10,
                        "FailureThreshold": 1,
                    },
                )
                failures.append("CreateHealthCheck %s at %s was accepted" % (kind, address))
            except ClientError as e:
                if e.response["Error"]["Code"] != "InvalidInput":
                    failures.append("CreateHealthCheck at %s: %s" % (address, e.response["Error"]))
        try:
            r53.update_health_check(HealthCheckId=victims[0], IPAddress=address, Port=80)
            failures.append("UpdateHealthCheck to %s was accepted" % address)
        except ClientError as e:
            if e.response["Error"]["Code"] != "InvalidInput":
                failures.append("UpdateHealthCheck to %s: %s" % (address, e.response["Error"]))
    if failures:
        sys.exit("FAILED:\n" + "\n".join(failures))
    if r53.get_health_check_count()["HealthCheckCount"] != len(victims):
        sys.exit("FAILED: a refused check was stored")
    # The checker ran after every refusal: a control check's probe is observed.
    control = serve()
    check = r53.create_health_check(
        CallerReference=uuid.uuid4().hex, HealthCheckConfig=http_config(control.server_address[1])
    )["HealthCheck"]["Id"]
    wait_status(r53, check, "Success")
    control.shutdown()
    print("victims %s" % " ".join(victims))
    print(
        "ok: %d spellings refused by CreateHealthCheck and UpdateHealthCheck; the control check was probed"
        % len(REFUSED_SPELLINGS)
    )


def forge(path, replacements):
    """Rewrites the stored health checks in the state database at `path`, as a state written by
    an older version (or by hand) could hold them: each `old=new` replaced in their JSON."""
    import sqlite3

    db = sqlite3.connect(path)
    rows = db.execute("SELECT id, health_check FROM health_checks").fetchall()
    for pair in replacements:
        old, new = pair.split("=", 1)
        if not any(old in check for _, check in rows):
            sys.exit("FAILED: %s is in no stored health check" % old)
        rows = [(id_, check.replace(old, new)) for id_, check in rows]
    with db:
        db.executemany("UPDATE health_checks SET health_check = ? WHERE id = ?", [(check, id_) for id_, check in rows])
    db.close()
    print("ok: forged")


def stored_scenario(resolver_url, checks):
    r53 = client(resolver_url)
    for check in checks:
        config = r53.get_health_check(HealthCheckId=check)["HealthCheck"]["HealthCheckConfig"]
        report = wait_status(r53, check, "Failure")["StatusReport"]["Status"]
        if "does not probe" not in report:
            sys.exit("FAILED: %s at %s reported %r" % (check, config["IPAddress"], report))
        print("%s:%s: %s" % (config["IPAddress"], config["Port"], report))
    print("ok: %d stored checks at refused addresses were not probed" % len(checks))


if sys.argv[1] == "diff":
    diff(sys.argv[2], sys.argv[3])
elif sys.argv[1] == "checkers":
    checkers_scenario(sys.argv[2])
elif sys.argv[1] == "secrets":
    secrets_scenario(sys.argv[2])
elif sys.argv[1] == "metadata":
    metadata()
elif sys.argv[1] == "refuse":
    refuse_scenario(sys.argv[2])
elif sys.argv[1] == "forge":
    forge(sys.argv[2], sys.argv[3:])
elif sys.argv[1] == "stored":
    stored_scenario(sys.argv[2], sys.argv[3:])
else:
    dns_scenario(sys.argv[2], sys.argv[3], sys.argv[4])
