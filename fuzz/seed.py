#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target into fuzz/corpus/TARGET/seed-NAME.

Standard library only. The inputs are the real thing: queries laid out as dig sends them
(RD and AD set, EDNS with a COOKIE option), Route 53 XML bodies as the AWS SDK sends them,
ownership TXT values as wavelb writes them, the AWS SigV4 test suite's signed requests, probe
replies as STUN, SRT, QUIC and DNS servers answer, and IMDS chunked bodies. Rerun after
changing a target's input layout; libFuzzer adds what it finds to the working corpus, not here.
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# ---- DNS -----------------------------------------------------------------------------------

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "TXT": 16, "AAAA": 28, "OPT": 41, "ANY": 255}


def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def question(name, qtype="A", qclass=1):
    return wire_name(name) + struct.pack(">HH", TYPES[qtype], qclass)


def opt(size=1232, version=0, options=b""):
    return b"\0" + struct.pack(">HHBBHH", 41, size, 0, version, 0, len(options)) + options


def query(questions, qid=0x1D2C, flags=0x0120, edns=None):
    """A query; `edns` is None (no OPT) or the OPT record."""
    head = struct.pack(">HHHHHH", qid, flags, len(questions), 0, 0, 1 if edns else 0)
    return head + b"".join(questions) + (edns or b"")


COOKIE = struct.pack(">HH", 10, 8) + bytes.fromhex("0123456789abcdef")
DIG_EDNS = opt(1232, options=COOKIE)


def dns_seed(name, packet, random=0, tcp=False, source=0):
    """`source` 0-3 picks 127.0.0.1, 127.64.0.1, 192.0.2.1 or ::1 as the query's source."""
    selector = (1 if tcp else 0) | (source << 1)
    write("dns_answer", name, struct.pack("<Q", random) + bytes([selector]) + packet)


def ecs(address, source, family=1, scope=0):
    """An EDNS Client Subnet option (RFC 7871) carrying `address` (bytes, already truncated)."""
    return struct.pack(">HHHBB", 8, 4 + len(address), family, source, scope) + address


dns_seed("a-plain", query([question("www.lab.test")], flags=0x0100))
dns_seed("a-dig", query([question("www.lab.test")], edns=DIG_EDNS), random=3)
dns_seed("a-edns-512", query([question("www.lab.test")], edns=opt(512)), random=1)
dns_seed("a-edns-4096", query([question("www.lab.test")], edns=opt(4096)), random=2)
dns_seed("a-mixed-case", query([question("WwW.LaB.TeSt")], flags=0x0100), random=4)
dns_seed("aaaa-edns", query([question("www.lab.test", "AAAA")], edns=opt(1232)), random=1)
dns_seed("a-big-udp", query([question("big.lab.test")], flags=0x0100))
dns_seed("a-big-edns", query([question("big.lab.test")], edns=opt(1232)))
dns_seed("a-big-tcp", query([question("big.lab.test")], flags=0x0100), tcp=True)
dns_seed("txt", query([question("txt.lab.test", "TXT")], edns=DIG_EDNS))
dns_seed("cname", query([question("alias.lab.test")], flags=0x0100), random=2)
dns_seed("nested", query([question("a.b.c.lab.test")], flags=0x0100))
dns_seed("interior-nodata", query([question("b.c.lab.test")], flags=0x0100))
dns_seed("nxdomain", query([question("nope.lab.test")], edns=opt(1232)))
dns_seed("refused", query([question("example.com")], flags=0x0100))
dns_seed("any", query([question("www.lab.test", "ANY")], edns=opt(1232)))
dns_seed("soa", query([question("lab.test", "SOA")], flags=0x0100))
dns_seed("ns-tcp", query([question("lab.test", "NS")], flags=0x0100), tcp=True)
dns_seed("sub-zone", query([question("x.sub.lab.test")], edns=opt(1232)))
dns_seed("class-ch", query([question("www.lab.test", "TXT", 3)], flags=0x0100))
dns_seed("badvers", query([question("www.lab.test")], edns=opt(1232, version=1)))
dns_seed("notify", query([question("lab.test", "SOA")], flags=0x2000))
dns_seed("qdcount-0", query([], flags=0x0100))
dns_seed("qdcount-2", query([question("www.lab.test"), question("txt.lab.test", "TXT")]))
dns_seed(
    "qdcount-8-edns",
    query([question("www%d.lab.test" % i) for i in range(8)], edns=opt(1232)),
)
dns_seed("geo-ecs-nyc", query([question("edge.lab.test")], edns=opt(1232, options=ecs(bytes([127, 64, 3]), 24))))
dns_seed("geo-ecs-v6", query([question("edge.lab.test")], edns=opt(1232, options=ecs(bytes(15) + b"\1", 128, 2))))
dns_seed("geo-ecs-zero", query([question("edge.lab.test")], edns=opt(1232, options=ecs(b"", 0))), source=1)
dns_seed(
    "geo-ecs-unknown", query([question("edge.lab.test")], edns=opt(1232, options=COOKIE + ecs(bytes([198, 51]), 16)))
)
dns_seed("geo-source-nyc", query([question("edge.lab.test")], flags=0x0100), source=1)
dns_seed("geo-source-unknown-tcp", query([question("edge.lab.test")], flags=0x0100), tcp=True, source=2)
dns_seed("weighted-ecs", query([question("www.lab.test")], edns=opt(1232, options=ecs(bytes([127, 1, 3]), 24))))
dns_seed("ecs-host-bits", query([question("edge.lab.test")], edns=opt(1232, options=ecs(bytes([127, 1, 3]), 23))))
dns_seed("ecs-twice", query([question("edge.lab.test")], edns=opt(1232, options=ecs(bytes([127]), 8) * 2)))
# The question name as a compression pointer to itself-plus-one: a loop the parser must refuse.
dns_seed("pointer-loop", struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c\0\x01\0\x01")

# ---- API XML -------------------------------------------------------------------------------

NS = "https://route53.amazonaws.com/doc/2013-04-01/"
PROLOG = '<?xml version="1.0" encoding="UTF-8"?>'


def record_set(name, rtype, values, ttl=60, set_id=None, weight=None, extra=""):
    rrs = "<Name>%s</Name><Type>%s</Type>" % (name, rtype)
    if set_id is not None:
        rrs += "<SetIdentifier>%s</SetIdentifier><Weight>%d</Weight>" % (set_id, weight)
    rrs += "<TTL>%d</TTL><ResourceRecords>" % ttl
    rrs += "".join("<ResourceRecord><Value>%s</Value></ResourceRecord>" % v for v in values)
    return "<ResourceRecordSet>%s</ResourceRecords>%s</ResourceRecordSet>" % (rrs, extra)


def batch(changes, comment=None):
    body = "".join("<Change><Action>%s</Action>%s</Change>" % c for c in changes)
    comment = "<Comment>%s</Comment>" % comment if comment else ""
    return (
        '%s<ChangeResourceRecordSetsRequest xmlns="%s"><ChangeBatch>%s<Changes>%s</Changes>'
        "</ChangeBatch></ChangeResourceRecordSetsRequest>" % (PROLOG, NS, comment, body)
    )


def api_seed(name, selector, body):
    write("api_xml", name, bytes([selector]) + body.encode())


api_seed(
    "cidr-create",
    0xF4,
    '%s<CreateCidrCollectionRequest xmlns="%s"><Name>edge-blocks</Name>'
    "<CallerReference>tf-1700000000</CallerReference></CreateCidrCollectionRequest>" % (PROLOG, NS),
)
api_seed(
    "cidr-change",
    0xF5,
    '%s<ChangeCidrCollectionRequest xmlns="%s"><Changes><member><LocationName>edge</LocationName>'
    "<Action>DELETE_IF_EXISTS</Action><CidrList><Cidr>192.0.2.0/24</Cidr></CidrList></member>"
    "<member><LocationName>core</LocationName><Action>PUT</Action><CidrList>"
    "<Cidr>192.0.2.0/24</Cidr><Cidr>198.51.100.0/24</Cidr><Cidr>2001:db8:1::/48</Cidr>"
    "</CidrList></member></Changes><CollectionVersion>2</CollectionVersion>"
    "</ChangeCidrCollectionRequest>" % (PROLOG, NS),
)
api_seed(
    "cidr-change-doc-spelling",
    0xF5,
    '<ChangeCidrCollectionRequest xmlns="%s"><Changes><CidrCollectionChange>'
    "<LocationName>edge</LocationName><Action>PUT</Action><CidrList><Cidr>10.0.0.1/8</Cidr>"
    "</CidrList></CidrCollectionChange></Changes></ChangeCidrCollectionRequest>" % NS,
)
api_seed(
    "create-zone",
    0,
    '%s<CreateHostedZoneRequest xmlns="%s"><Name>example.test.</Name>'
    "<CallerReference>wavelb-1700000000</CallerReference><HostedZoneConfig>"
    "<Comment>lab zone</Comment><PrivateZone>false</PrivateZone></HostedZoneConfig>"
    "</CreateHostedZoneRequest>" % (PROLOG, NS),
)
api_seed(
    "create-zone-vpc",
    2,
    '<CreateHostedZoneRequest xmlns="%s"><Name>Lab.Test</Name><CallerReference>fuzz</CallerReference>'
    "<VPC><VPCRegion>us-east-1</VPCRegion><VPCId>vpc-1</VPCId></VPC></CreateHostedZoneRequest>" % NS,
)
api_seed(
    "register-target",
    1,
    batch(
        [
            ("UPSERT", record_set("edge.lab.test.", "A", ["198.51.100.7"], 30, "i-0abc", 100)),
            (
                "UPSERT",
                record_set(
                    "edge.lab.test.",
                    "TXT",
                    [
                        "&quot;v=1&quot; &quot;owner=wavelb&quot; &quot;weight=100&quot; "
                        "&quot;state=active&quot; &quot;since=1700000000&quot;"
                    ],
                    30,
                    "i-0abc",
                    0,
                ),
            ),
        ],
        comment="wavelb agent: register i-0abc",
    ),
)
api_seed(
    "delete-existing",
    1,
    batch([("DELETE", record_set("www.lab.test", "A", ["192.0.2.1"], 60, "a", 1))]),
)
api_seed(
    "create-duplicate",
    1,
    batch([("CREATE", record_set("www.lab.test", "A", ["192.0.2.9"], 60, "a", 1))]),
)
api_seed(
    "many-types",
    3,
    batch(
        [
            ("CREATE", record_set("v6.lab.test", "AAAA", ["2001:db8::1", "2001:db8::2"])),
            ("CREATE", record_set("alias.lab.test", "CNAME", ["www.lab.test"])),
            ("CREATE", record_set("lab.test", "MX", ["10 mail.lab.test"])),
            ("UPSERT", record_set("lab.test", "TXT", ['"a" "b\\"c"'])),
            ("CREATE", record_set("_sip._udp.lab.test", "SRV", ["1 10 5060 sip.lab.test"])),
            ("CREATE", record_set("caa.lab.test", "CAA", ['0 issue "ca.test"'])),
        ]
    ),
)
api_seed(
    "alias-target",
    1,
    batch(
        [
            (
                "CREATE",
                "<ResourceRecordSet><Name>al.lab.test</Name><Type>A</Type><AliasTarget>"
                "<HostedZoneId>Z1</HostedZoneId><DNSName>x.test</DNSName>"
                "<EvaluateTargetHealth>false</EvaluateTargetHealth></AliasTarget></ResourceRecordSet>",
            )
        ]
    ),
)
api_seed("not-xml", 1, "<ChangeResourceRecordSetsRequest><ChangeBatch>")

# ---- TXT ownership records -----------------------------------------------------------------

for name, value in {
    "active": '"v=1" "owner=wavelb" "weight=100" "state=active" "since=1700000000"',
    "quarantined": '"v=1" "owner=edge-pool.a" "weight=255" "state=quarantined" '
    '"since=1700000123" "probe=10.0.0.5:4433" "by=health"',
    "parked": '"v=1" "owner=wavelb" "weight=10" "state=quarantined" "since=1" "by=health" '
    '"parked=198.51.100.7,2001:db8::7"',
    "draining-v6-probe": '"v=1" "owner=w" "weight=0" "state=draining" "since=0" "probe=[2001:db8::1]:443" "by=agent"',
    "unquoted": "v=1 owner=wavelb weight=1 state=active since=5",
    "escapes": '"v=1" "owner=a\\"b" "weight=1" "state=active" "since=5" "note=\\065\\\\"',
    "lease": '"v=1" "holder=ctl-1" "expires=1700000060"',
    "future-key": '"v=1" "owner=wavelb" "weight=1" "state=active" "since=5" "hmac=00ff"',
}.items():
    write("txt_codec", name, value)

# ---- SigV4 ---------------------------------------------------------------------------------

SUITE = [
    (
        "get-vanilla",
        "GET",
        "/",
        "",
        [],
        "",
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    (
        "get-vanilla-query-order-key-case",
        "GET",
        "/",
        "Param2=value2&Param1=value1",
        [],
        "",
        "host;x-amz-date",
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    ),
    (
        "get-vanilla-query-order-encoded",
        "GET",
        "/",
        "Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
        [],
        "",
        "host;x-amz-date",
        "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac",
    ),
    (
        "get-slashes-normalized",
        "GET",
        "//example//",
        "",
        [],
        "",
        "host;x-amz-date",
        "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
    ),
    (
        "get-relative-relative-normalized",
        "GET",
        "/example1/example2/../..",
        "",
        [],
        "",
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    (
        "get-header-value-trim",
        "GET",
        "/",
        "",
        [("My-Header1", " value1"), ("My-Header2", ' "a   b   c"')],
        "",
        "host;my-header1;my-header2;x-amz-date",
        "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
    ),
    (
        "get-header-key-duplicate",
        "GET",
        "/",
        "",
        [("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1")],
        "",
        "host;my-header1;x-amz-date",
        "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
    ),
    (
        "post-x-www-form-urlencoded",
        "POST",
        "/",
        "",
        [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Length", "13"),
            ("X-Amz-Content-Sha256", "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"),
        ],
        "Param1=value1",
        "content-length;content-type;host;x-amz-content-sha256;x-amz-date",
        "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
    ),
]
SCOPE = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"
for name, method, path, query_, extra, body, signed, signature in SUITE:
    headers = [("Host", "example.amazonaws.com")] + extra + [("X-Amz-Date", "20150830T123600Z")]
    headers.append(
        ("Authorization", "AWS4-HMAC-SHA256 Credential=%s, SignedHeaders=%s, Signature=%s" % (SCOPE, signed, signature))
    )
    text = "\n".join([method, path, query_] + ["%s:%s" % h for h in headers])
    write("sigv4_header", name, text + ("\n\n" + body if body else ""))
write(
    "sigv4_header",
    "unsigned-payload",
    "POST\n/2013-04-01/hostedzone\n\nhost:127.0.0.1:8053\nx-amz-date:20150830T123600Z\n"
    "x-amz-content-sha256:UNSIGNED-PAYLOAD\nauthorization:AWS4-HMAC-SHA256 Credential="
    "AKIDEXAMPLE/20150830/us-east-1/route53/aws4_request, SignedHeaders=host;"
    "x-amz-content-sha256;x-amz-date, Signature=" + "ab" * 32 + "\n\n<x/>",
)
write("sigv4_header", "basic-auth", "GET\n/\n\nAuthorization:Basic dXNlcjpwYXNz")

# ---- probe replies -------------------------------------------------------------------------

TXID = b"wavelb-fuzz!"
SOCKET_ID = 0x12345678
DCID = bytes(range(0xD0, 0xD8))
SCID = bytes(range(0x50, 0x58))


def probe_seed(name, selector, reply):
    write("probe_replies", name, bytes([selector]) + reply)


def stun(msg_type, attrs):
    body = b""
    for t, v in attrs:
        body += struct.pack(">HH", t, len(v)) + v + b"\0" * (-len(v) % 4)
    return struct.pack(">HHI", msg_type, len(body), 0x2112A442) + TXID + body


xor_port = 40000 ^ 0x2112
xor_ip = bytes(a ^ b for a, b in zip(bytes([198, 51, 100, 7]), struct.pack(">I", 0x2112A442), strict=True))
probe_seed("stun-success", 0, stun(0x0101, [(0x0020, b"\0\x01" + struct.pack(">H", xor_port) + xor_ip)]))
xor_ip6 = bytes(
    a ^ b
    for a, b in zip(
        bytes.fromhex("20010db8000000000000000000000007"), struct.pack(">I", 0x2112A442) + TXID, strict=True
    )
)
probe_seed(
    "stun-success-v6",
    0,
    stun(0x0101, [(0x0020, b"\0\x02" + struct.pack(">H", xor_port) + xor_ip6), (0x8022, b"coturn")]),
)
probe_seed("stun-mapped", 0, stun(0x0101, [(0x0001, b"\0\x01" + struct.pack(">H", 3478) + bytes([192, 0, 2, 1]))]))
probe_seed("stun-error", 0, stun(0x0111, [(0x0009, b"\0\0\x04\x00Bad Request")]))


def srt(dest, version=5, ext=0x4A17, hs_type=1, cookie=0x5EED):
    p = struct.pack(">IIII", 0x80000000, 0, 1234, dest)
    p += struct.pack(">IHHIIIII", version, 2, ext, 1, 1500, 8192, hs_type, 0x0BADCAFE)
    p += struct.pack(">I", cookie) + bytes([127, 0, 0, 1]) + b"\0" * 12
    return p


probe_seed("srt-induction", 1, srt(SOCKET_ID))
probe_seed("srt-reject", 1, srt(SOCKET_ID, hs_type=1002))
probe_seed("srt-v4", 1, srt(SOCKET_ID, version=4, ext=2))


def vn(dcid, scid, versions):
    return (
        b"\x80"
        + b"\0\0\0\0"
        + bytes([len(dcid)])
        + dcid
        + bytes([len(scid)])
        + scid
        + b"".join(struct.pack(">I", v) for v in versions)
    )


probe_seed("quic-vn", 2, vn(SCID, DCID, [1, 0x6B3343CF, 0xFF00001D]))
probe_seed("quic-vn-wrong-ids", 2, vn(DCID, SCID, [1]))

dns_answer_rr = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1])
probe_seed(
    "dns-answer",
    3,
    struct.pack(">HHHHHH", 0x4242, 0x8580, 1, 1, 0, 1) + question("svc.lab.test") + dns_answer_rr + opt(1232),
)
probe_seed("dns-nxdomain", 3, struct.pack(">HHHHHH", 0x4242, 0x8583, 1, 0, 0, 0) + question("svc.lab.test"))
probe_seed("dns-formerr-bare", 3, struct.pack(">HHHHHH", 0x4242, 0x8181, 0, 0, 0, 0))
probe_seed("udp-pong", 4, b"PONG 1700000000")
probe_seed("udp-other", 4, b"PANG")

# ---- IMDS chunked bodies -------------------------------------------------------------------

token = "AQAEAGfAKEtOkEnFoRfUzZiNg1234567890abcdefghijklmnopqrstuvwx=="
write("imds_chunked", "token", "%x\r\n%s\r\n0\r\n\r\n" % (len(token), token))
write("imds_chunked", "two-chunks", "5\r\nus-ea\r\n0004\r\nst-1\r\n0\r\n\r\n")
write("imds_chunked", "upper-hex", "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n")
write("imds_chunked", "truncated", "10\r\nshort\r\n")
write("imds_chunked", "json", '1f\r\n{"Code":"Success","Type":"AWS"}\r\n0\r\n\r\n')

# ---- Geoproximity routing (geo_route) ------------------------------------------------------
# A head byte (bits 0-3: which of g0..g3 lose their seed), 8 random bytes, then 4 bytes a set:
# name (0-3 g0..g3, 4-5 c0/c1), target (0-3 g0..g3, 4 w or the other c, 5 own record or w),
# place (latitude), flags (bit 0 EvaluateTargetHealth, bits 1-2 bias, bits 3-7 longitude).


def geo_seed(name, head, members, random=0):
    write("geo_route", name, bytes([head]) + struct.pack("<Q", random) + b"".join(bytes(m) for m in members))


# The costliest state: g0 and g1 with 30 members each (29 and the seed, then the seed goes),
# every member an alias to the other, evaluating its health.
cross = []
for i in range(30):
    cross += [(0, 1, 40 + i, 1 | (i << 3)), (1, 0, 100 + i, 1 | (i << 3))]
geo_seed("cross-aliased-at-quota", 0b0011, cross)
geo_seed("cross-aliased-no-evaluate", 0b0011, [(n, t, p, f & ~1) for (n, t, p, f) in cross])
# Aliases to the pool and own records, biased, in all four groups.
geo_seed(
    "pools-and-records",
    0,
    [(g, 4 if i % 2 else 5, 30 * i + g, (i << 3) | (2 if i % 3 else 6) | 1) for g in range(4) for i in range(6)],
    random=7,
)
# CNAME groups chaining through each other and the groups.
geo_seed(
    "cname-chains",
    0b1111,
    [
        (4, 4, 10, 0),
        (5, 4, 20, 8),
        (4, 0, 30, 16),
        (0, 1, 40, 1),
        (1, 2, 50, 1),
        (2, 3, 60, 1),
        (3, 0, 70, 1),
        (5, 5, 80, 24),
    ],
)

# ---- IAM policies (iam_policy) -------------------------------------------------------------
# A policy document, a line `---`, then requests: `ACTION RESOURCE [CREATE|UPSERT|DELETE:NAME:TYPE...]`.

ZONE = "arn:aws:route53:::hostedzone/Z1"
REQUESTS = "\n".join(
    [
        f"route53:ChangeResourceRecordSets {ZONE} CREATE:edge.lab.test:A CREATE:_wavelb.edge.lab.test:TXT",
        f"route53:ChangeResourceRecordSets {ZONE} DELETE:edge.lab.test:A CREATE:www.lab.test:A",
        f"route53:ChangeResourceRecordSets {ZONE} UPSERT:edge.lab.test:AAAA",
        f"route53:ListResourceRecordSets {ZONE}",
        "route53:GetChange arn:aws:route53:::change/C1",
        "route53:ListHostedZonesByName *",
        "ec2:DescribeInstances *",
    ]
)
for policy in ("agent-policy.json", "health-policy.json"):
    with open(os.path.join(HERE, "..", "deploy", "iam", policy)) as f:
        text = f.read().replace("ZONEID", "Z1").replace("edge.example.com", "edge.lab.test")
    write("iam_policy", policy.replace(".json", ""), text + "\n---\n" + REQUESTS)
write(
    "iam_policy",
    "deny-wins",
    """{"Version": "2012-10-17", "Statement": [
 {"Effect": "Allow", "Action": "route53:*", "Resource": "*"},
 {"Effect": "Deny", "NotAction": "route53:Get*", "NotResource": "arn:aws:route53:::change/*",
  "Condition": {"ForAnyValue:StringLike": {"route53:ChangeResourceRecordSetsNormalizedRecordNames": ["*.prod.?ab.test", "\\\\052.*"]},
                "ForAllValues:StringNotEquals": {"ROUTE53:ChangeResourceRecordSetsRecordTypes": "MX"}}}]}
---
"""
    + REQUESTS,
)
write(
    "iam_policy",
    "arn-wildcards",
    """{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
 "Action": ["route53:List*", "route53:?etChange"], "Resource": ["arn:*:route53:::hostedzone/Z?", "arn:aws:r*:::change/*"]}}
---
"""
    + REQUESTS,
)
