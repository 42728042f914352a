"""DNS conformance checks of `wavelb resolver`, with real clients (dnspython, dig, kdig).

Usage: python dns_conformance.py CHECK HOST:PORT API_URL [METRICS_HOST:PORT]
Seeds the zone lab.test through the Route 53 API (boto3), then runs one group of checks and
exits non-zero with a message on the first failure.
"""

import random
import socket
import struct
import subprocess
import sys
import urllib.request

import boto3
import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype

CHECK, DNS_ADDR, API = sys.argv[1], sys.argv[2], sys.argv[3]
METRICS = sys.argv[4] if len(sys.argv) > 4 else None
HOST, PORT = DNS_ADDR.rsplit(":", 1)
PORT = int(PORT)
R53 = boto3.client(
    "route53", endpoint_url=API, region_name="us-east-1", aws_access_key_id="lab", aws_secret_access_key="lab"
)
SOCK = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


def zone_id():
    zones = R53.list_hosted_zones_by_name(DNSName="lab.test")["HostedZones"]
    assert zones and zones[0]["Name"] == "lab.test.", zones
    return zones[0]["Id"]


def rrset(name, rtype, values, ttl=30, set_id=None, weight=None, action="CREATE"):
    rs = {"Name": name, "Type": rtype, "TTL": ttl, "ResourceRecords": [{"Value": v} for v in values]}
    if set_id is not None:
        rs["SetIdentifier"] = set_id
        rs["Weight"] = weight
    return {"Action": action, "ResourceRecordSet": rs}


def change(changes):
    R53.change_resource_record_sets(HostedZoneId=zone_id(), ChangeBatch={"Changes": changes})


def seed():
    big = ['"%s"' % ("x%02d" % i * 20) for i in range(40)]
    change(
        [
            rrset("www.lab.test", "A", ["127.0.0.11"], set_id="w1", weight=10),
            rrset("www.lab.test", "A", ["127.0.0.12"], set_id="w2", weight=20),
            rrset("www.lab.test", "A", ["127.0.0.13"], set_id="w3", weight=30),
            rrset("www.lab.test", "A", ["127.0.0.14"], set_id="w4", weight=40),
            rrset("zero.lab.test", "A", ["127.0.0.21"], set_id="z1", weight=0),
            rrset("zero.lab.test", "A", ["127.0.0.22"], set_id="z2", weight=5),
            rrset("allzero.lab.test", "A", ["127.0.0.31"], set_id="a1", weight=0),
            rrset("allzero.lab.test", "A", ["127.0.0.32"], set_id="a2", weight=0),
            rrset("allzero.lab.test", "A", ["127.0.0.33"], set_id="a3", weight=0),
            rrset("multi.lab.test", "A", ["127.0.0.41", "127.0.0.42", "127.0.0.43"]),
            rrset("deep.ent.lab.test", "A", ["127.0.0.51"]),
            rrset("txt.lab.test", "TXT", ['"hello world"']),
            rrset("big.lab.test", "TXT", big),
            rrset("alias.lab.test", "CNAME", ["www.lab.test."]),
            rrset("many.lab.test", "A", ["127.0.1.%d" % i for i in range(1, 101)], set_id="m1", weight=1),
        ]
    )


def ask(name, rtype="A", tcp=False, use_edns=0, payload=1232, raw=None):
    q = raw or dns.message.make_query(name, rtype, use_edns=use_edns, payload=payload)
    if tcp:
        return dns.query.tcp(q, HOST, port=PORT, timeout=3)
    return dns.query.udp(q, HOST, port=PORT, timeout=3, sock=SOCK, ignore_trailing=True)


def check(cond, what):
    if not cond:
        sys.exit("FAILED: " + what)


def answers(r):
    return [rd.to_text() for rrs in r.answer for rd in rrs]


def has_soa(r):
    return any(rrs.rdtype == dns.rdatatype.SOA for rrs in r.authority)


def check_authority():
    r = ask("lab.test", "SOA")
    check(r.flags & dns.flags.AA, "AA on the apex SOA")
    check(r.answer and r.answer[0].rdtype == dns.rdatatype.SOA, "apex SOA answered")
    serial1 = r.answer[0][0].serial
    r = ask("lab.test", "NS")
    check(answers(r) == ["ns.lab.test."], "apex NS: %s" % answers(r))
    change([rrset("serial.lab.test", "A", ["127.0.0.99"])])
    serial2 = ask("lab.test", "SOA").answer[0][0].serial
    check(serial2 > serial1, "SOA serial increases with a change (%d -> %d)" % (serial1, serial2))
    r = ask("multi.lab.test")
    check(sorted(answers(r)) == ["127.0.0.41", "127.0.0.42", "127.0.0.43"], "simple set returns all values")
    check(r.answer[0].ttl == 30, "TTL as written")
    r = ask("txt.lab.test", "TXT")
    check(answers(r) == ['"hello world"'], "TXT: %s" % answers(r))
    r = ask("alias.lab.test")
    check(r.answer[0].rdtype == dns.rdatatype.CNAME and len(r.answer) == 2, "CNAME followed in zone")


def check_negative():
    r = ask("nope.lab.test")
    check(r.rcode() == dns.rcode.NXDOMAIN, "NXDOMAIN for a missing name")
    check(has_soa(r) and r.flags & dns.flags.AA, "NXDOMAIN carries the SOA, AA")
    soa = [rrs for rrs in r.authority if rrs.rdtype == dns.rdatatype.SOA][0]
    check(soa.ttl == min(900, soa[0].minimum), "negative TTL = min(SOA TTL, minimum)")
    r = ask("www.lab.test", "TXT")
    check(r.rcode() == dns.rcode.NOERROR and not r.answer and has_soa(r), "NODATA for another type")
    r = ask("ent.lab.test")
    check(r.rcode() == dns.rcode.NOERROR and not r.answer and has_soa(r), "NODATA for an empty non-terminal")
    r = ask("example.com")
    check(r.rcode() == dns.rcode.REFUSED and not r.flags & dns.flags.AA, "REFUSED outside the zones")
    r = ask("lab.test.evil")
    check(r.rcode() == dns.rcode.REFUSED, "REFUSED for a suffix look-alike")


def check_protocol():
    r = ask("www.lab.test", tcp=True)
    check(len(answers(r)) == 1, "TCP answers")
    r = ask("WwW.LaB.tEsT")
    check(r.question[0].name.to_text() == "WwW.LaB.tEsT.", "question case echoed")
    check(r.answer[0].name.to_text() == "WwW.LaB.tEsT.", "answer owner echoes the case")
    r = ask("www.lab.test", "ANY")
    check(len(r.answer) == 1 and r.answer[0].rdtype == dns.rdatatype.HINFO, "RFC 8482 minimal ANY")
    r = ask("www.lab.test")
    check(r.edns == 0 and r.payload == 1232, "EDNS answered with OPT, payload 1232")
    r = ask("www.lab.test", use_edns=-1)
    check(r.edns == -1, "no OPT when the query has none")
    r = ask("big.lab.test", "TXT")
    check(r.flags & dns.flags.TC and not r.answer, "an answer over the EDNS size is truncated")
    r = ask("big.lab.test", "TXT", use_edns=-1)
    check(r.flags & dns.flags.TC, "an answer over 512 without EDNS is truncated")
    r = ask("big.lab.test", "TXT", tcp=True)
    check(not r.flags & dns.flags.TC and len(r.answer[0]) == 40, "TCP carries the whole answer")
    r = ask("big.lab.test", "TXT", payload=4096)
    check(r.flags & dns.flags.TC, "the client buffer is capped at 1232")
    q = dns.message.make_query("www.lab.test", "A")
    q.set_opcode(dns.opcode.NOTIFY)
    r = ask(None, raw=q)
    check(r.rcode() == dns.rcode.NOTIMP, "NOTIMP for NOTIFY")
    q = dns.message.make_query("www.lab.test", "A", use_edns=1)
    r = ask(None, raw=q)
    check(r.rcode() == dns.rcode.BADVERS, "BADVERS for EDNS version 1")


def raw_exchange(payload, timeout=0.5):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.sendto(payload, (HOST, PORT))
    try:
        return s.recvfrom(4096)[0]
    except TimeoutError:
        return None
    finally:
        s.close()


def check_malformed():
    # A header that promises a question which is not there: FORMERR with the same id.
    reply = raw_exchange(b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07garbage")
    check(reply is not None and reply[:2] == b"\xab\xcd", "FORMERR echoes the id")
    check(reply[3] & 0x0F == dns.rcode.FORMERR and reply[2] & 0x80, "FORMERR rcode and QR")
    dropped_before = dropped()
    check(dropped_before is not None, "a not_a_query series from the start")
    # Too short to have a header, or a response: silence, counted as dropped.
    check(raw_exchange(b"\x01\x02\x03", timeout=0.3) is None, "silence for garbage without a header")
    check(raw_exchange(b"\x12\x34\x81\x80" + bytes(8), timeout=0.3) is None, "silence for a response")
    check(dropped() == dropped_before + 2, "both counted: %s, was %s" % (dropped(), dropped_before))
    rng = random.Random(7)
    for _ in range(300):
        raw_exchange(bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 120))), timeout=0.01)
    for cut in range(1, 40):
        q = dns.message.make_query("www.lab.test", "A").to_wire()
        raw_exchange(q[:cut], timeout=0.01)
    r = ask("www.lab.test")
    check(len(answers(r)) == 1, "the server still answers after malformed input")
    r = ask("www.lab.test", tcp=True)
    check(len(answers(r)) == 1, "TCP still answers")


def tcp_exchange(payload, timeout=3):
    """One framed query over a fresh TCP connection; the framed reply's body (None: closed)."""
    with socket.create_connection((HOST, PORT), timeout=timeout) as s:
        s.sendall(struct.pack("!H", len(payload)) + payload)
        head = s.recv(2, socket.MSG_WAITALL)
        if len(head) < 2:
            return None
        return s.recv(struct.unpack("!H", head)[0], socket.MSG_WAITALL)


WWW = b"\x03www\x03lab\x04test\x00\x00\x01\x00\x01"


def header(qdcount, id_=0xBEEF, flags=0x0100, arcount=0):
    return struct.pack("!HHHHHH", id_, flags, qdcount, 0, 0, arcount)


def check_header_only_formerr(reply, query, what):
    check(reply is not None and len(reply) > 0, "%s: a reply, never an empty one" % what)
    check(len(reply) <= len(query), "%s: %d-byte reply to a %d-byte query" % (what, len(reply), len(query)))
    check(len(reply) == 12, "%s: header only, no echoed questions (%d bytes)" % (what, len(reply)))
    check(reply[:2] == query[:2], "%s: id echoed" % what)
    check(reply[2] & 0x80 and reply[3] & 0x0F == dns.rcode.FORMERR, "%s: QR and FORMERR" % what)
    check(reply[4:] == b"\0" * 8, "%s: every count zero" % what)


def check_hostile():
    # Finding 3: queries without exactly one question.
    packed = WWW + b"\x00\x00\x01\x00\x01" * 5 + b"\xc0\x0c\x00\x01\x00\x01" * 400
    queries = [
        ("QDCOUNT=0", header(0)),
        ("QDCOUNT=2", header(2) + WWW * 2),
        ("QDCOUNT=600", header(600) + WWW * 600),
        ("2455-byte query, 406 questions", header(406) + packed),
    ]
    check(len(queries[3][1]) == 2455, "the 2455-byte query is %d bytes" % len(queries[3][1]))
    for what, q in queries:
        check_header_only_formerr(raw_exchange(q, timeout=3), q, what + " over UDP")
        check_header_only_formerr(tcp_exchange(q), q, what + " over TCP")
    # A big answer is truncated to the client's limit, the question kept.
    for payload, limit in [(None, 512), (4096, 1232), (1232, 1232)]:
        q = dns.message.make_query("many.lab.test", "A", use_edns=-1 if payload is None else 0, payload=payload or 512)
        wire = q.to_wire()
        reply = raw_exchange(wire, timeout=3)
        check(
            reply is not None and 12 <= len(reply) <= limit,
            "many A, EDNS %s: %s bytes, limit %d" % (payload, reply and len(reply), limit),
        )
        r = dns.message.from_wire(reply)
        check(
            r.flags & dns.flags.TC and len(r.question) == 1 and not r.answer,
            "many A, EDNS %s: TC with the question only" % payload,
        )
    r = ask("many.lab.test", tcp=True)
    check(not r.flags & dns.flags.TC and len(r.answer[0]) == 100, "TCP carries all 100 addresses")
    # Finding 7: classes other than IN are refused, never answered with AA.
    for rdclass in ["CH", "ANY", "NONE"]:
        for tcp in [False, True]:
            q = dns.message.make_query("www.lab.test", "A", rdclass=rdclass)
            r = ask(None, tcp=tcp, raw=q)
            check(
                r.rcode() == dns.rcode.REFUSED and not r.flags & dns.flags.AA and not r.answer,
                "class %s (tcp=%s): REFUSED without AA: %s" % (rdclass, tcp, r),
            )
    q = dns.message.make_query("version.bind", "TXT", rdclass="CH")
    r = ask(None, raw=q)
    check(r.rcode() == dns.rcode.REFUSED and not r.answer, "CH TXT version.bind is refused")
    # The server still answers.
    check(len(answers(ask("www.lab.test"))) == 1, "UDP still answers")
    check(len(answers(ask("www.lab.test", tcp=True))) == 1, "TCP still answers")


def scrape():
    with urllib.request.urlopen("http://%s/metrics" % METRICS, timeout=5) as resp:
        return resp.read().decode()


def dropped():
    """wavelb_dns_dropped_total{reason="not_a_query"}, or None when there is no such series."""
    for line in scrape().splitlines():
        if line.startswith('wavelb_dns_dropped_total{reason="not_a_query"} '):
            return float(line.split()[1])
    return None


def answer_series(text, set_id):
    return [
        line
        for line in text.splitlines()
        if line.startswith("wavelb_dns_answers_total{")
        and 'pool="www.lab.test"' in line
        and 'set_id="%s"' % set_id in line
    ]


def check_metrics():
    check(METRICS is not None, "the metrics address is passed")
    for _ in range(50):
        ask("www.lab.test")
    before = scrape()
    for set_id in ["w1", "w2", "w3", "w4"]:
        check(len(answer_series(before, set_id)) == 1, "a series for %s:\n%s" % (set_id, before))
    change([rrset("www.lab.test", "A", ["127.0.0.13"], set_id="w3", weight=30, action="DELETE")])
    after = scrape()
    check(not answer_series(after, "w3"), "the deleted set's series is gone:\n%s" % after)
    for set_id in ["w1", "w2", "w4"]:
        check(len(answer_series(after, set_id)) == 1, "%s keeps its series" % set_id)
    total = sum(float(answer_series(after, s)[0].rsplit(" ", 1)[1]) for s in ["w1", "w2", "w4"])
    check(total > 0, "the remaining sets keep their counts")


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    check(out.returncode == 0, "%s failed: %s" % (cmd, out.stderr))
    return out.stdout


def check_clients():
    out = run(["dig", "@" + HOST, "-p", str(PORT), "www.lab.test", "A", "+norec"])
    check("status: NOERROR" in out and " aa" in out.split("flags:")[1].split(";")[0], "dig: NOERROR, aa\n" + out)
    out = run(["dig", "@" + HOST, "-p", str(PORT), "nope.lab.test", "+tcp"])
    check("status: NXDOMAIN" in out and "SOA" in out, "dig +tcp NXDOMAIN with SOA\n" + out)
    out = run(["dig", "@" + HOST, "-p", str(PORT), "big.lab.test", "TXT"])
    check("Truncated, retrying in TCP mode" in out and out.count("IN\tTXT") >= 40, "dig falls back to TCP\n" + out)
    out = run(["kdig", "@" + HOST, "-p", str(PORT), "multi.lab.test", "A"])
    check("status: NOERROR" in out and out.count("127.0.0.4") == 3, "kdig: all values\n" + out)
    out = run(["kdig", "@" + HOST, "-p", str(PORT), "+tcp", "example.com", "A"])
    check("status: REFUSED" in out, "kdig +tcp REFUSED\n" + out)


def distribution(name, n):
    counts = {}
    for _ in range(n):
        r = ask(name)
        got = answers(r)
        check(len(got) == 1, "exactly one record set per answer: %s" % got)
        counts[got[0]] = counts.get(got[0], 0) + 1
    return counts


def chi_square(counts, expected):
    return sum((counts.get(k, 0) - e) ** 2 / e for k, e in expected.items())


def check_weights():
    n = 20000
    counts = distribution("www.lab.test", n)
    weights = {"127.0.0.11": 10, "127.0.0.12": 20, "127.0.0.13": 30, "127.0.0.14": 40}
    expected = {k: n * w / 100 for k, w in weights.items()}
    stat = chi_square(counts, expected)
    # Critical value of chi-square with 3 degrees of freedom at p = 0.001.
    check(stat < 16.266, "answer shares match the weights: chi2=%.2f %s" % (stat, counts))
    counts = distribution("zero.lab.test", 2000)
    check(set(counts) == {"127.0.0.22"}, "weight-0 sets are never answered while others are > 0: %s" % counts)
    counts = distribution("allzero.lab.test", 3000)
    stat = chi_square(counts, {k: 1000 for k in ["127.0.0.31", "127.0.0.32", "127.0.0.33"]})
    check(stat < 13.816, "all-zero spreads uniformly: chi2=%.2f %s" % (stat, counts))
    change(
        [
            rrset("www.lab.test", "A", ["127.0.0.14"], set_id="w4", weight=40, action="DELETE"),
            rrset("www.lab.test", "A", ["127.0.0.14"], set_id="w4", weight=0),
        ]
    )
    counts = distribution("www.lab.test", 1000)
    check("127.0.0.14" not in counts, "a weight change shows right after the API call: %s" % counts)


seed()
{
    "authority": check_authority,
    "negative": check_negative,
    "protocol": check_protocol,
    "malformed": check_malformed,
    "clients": check_clients,
    "weights": check_weights,
    "hostile": check_hostile,
    "metrics": check_metrics,
}[CHECK]()
print("ok", CHECK)
