#!/usr/bin/env bash
# Checks the deployment artefacts in deploy/: every CloudFormation template passes cfn-lint with no
# error or warning, every IAM policy in deploy/iam/ is least-privilege (see deploy/README.md: one
# hosted zone, ForAllValues:StringEquals on the three record-set keys, no UPSERT, exactly the names
# its program writes, listed in the README; `cargo test --test e2e iam::` proves them sufficient
# in the lab), and the Prometheus rules pass `promtool check rules` and their unit tests
# (`promtool test rules`). Prints `ok <file>` per file; exits non-zero on any failure.
# Usage: scripts/check-deploy.sh   (venv: $WAVELB_VENV or ~/.cache/wavelb/venv)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${WAVELB_VENV:-$HOME/.cache/wavelb/venv}"
scripts/ensure-venv.sh "$venv"
status=0

shopt -s nullglob
templates=(deploy/cloudformation/*.yaml deploy/cloudformation/*.yml deploy/cloudformation/*.json)
policies=(deploy/iam/*.json)
if [ ${#templates[@]} -eq 0 ] || [ ${#policies[@]} -eq 0 ]; then
  echo "FAIL no templates in deploy/cloudformation or no policies in deploy/iam"; exit 1
fi

for t in "${templates[@]}"; do
  # cfn-lint exits non-zero on errors (2) and warnings (4); informational findings are off.
  if "$venv/bin/cfn-lint" -- "$t"; then echo "ok $t"; else echo "FAIL $t: cfn-lint"; status=1; fi
done

"$venv/bin/python" - "${policies[@]}" <<'PY' || status=1
import json, os, sys

CRRS = "route53:changeresourcerecordsets"
KEYS = {"route53:ChangeResourceRecordSetsNormalizedRecordNames",
        "route53:ChangeResourceRecordSetsRecordTypes",
        "route53:ChangeResourceRecordSetsActions"}
NAMES = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
# The names each shipped policy must let its program write, for its placeholders: the agent its
# pool and ownership TXTs; the health controller each pool's records, ownership TXTs, leader lease
# and health records, and the tier's records, ownership TXTs and lease (docs/record-protocol.md).
POOL, TIER = "edge.example.com", "global.example.com"
EXPECTED_NAMES = {
    "agent-policy.json": {POOL, "_wavelb." + POOL},
    "health-policy.json": {POOL, "_wavelb." + POOL, "_wavelb-leader." + POOL,
                           "_wavelb-health." + POOL,
                           TIER, "_wavelb." + TIER, "_wavelb-leader." + TIER},
}

def as_list(v):
    return v if isinstance(v, list) else [v]

def problems(path, doc):
    if doc.get("Version") != "2012-10-17":
        yield 'Version is not "2012-10-17"'
    names = set()
    for i, st in enumerate(as_list(doc.get("Statement", []))):
        name = st.get("Sid", f"statement {i}")
        if st.get("Effect") != "Allow":
            continue
        if "NotAction" in st or "NotResource" in st:
            yield f"{name}: NotAction/NotResource in an Allow statement"
        actions = [a.lower() for a in as_list(st.get("Action", []))]
        for a in actions:
            if a == "*" or a.endswith(":*"):
                yield f"{name}: wildcard action {a!r}"
            if not a.startswith("route53:") and not a.startswith("ec2:describe"):
                yield f"{name}: {a!r}: only route53 and ec2:Describe* actions are wavelb's"
        if CRRS in actions:
            for r in as_list(st.get("Resource", [])):
                if "*" in r:
                    yield f"{name}: ChangeResourceRecordSets on resource {r!r}, not one hosted zone"
            cond = st.get("Condition", {})
            # ForAllValues: every change of a batch must match. ForAnyValue (or a plain
            # operator, which IAM does not define for these multivalued keys) lets one listed
            # change carry any other.
            allvalues = cond.get("ForAllValues:StringEquals", {})
            for k in sorted(KEYS - set(allvalues)):
                yield f"{name}: ChangeResourceRecordSets without ForAllValues:StringEquals on {k}"
            for op in cond:
                if op != "ForAllValues:StringEquals":
                    yield f"{name}: condition operator {op!r}; use ForAllValues:StringEquals"
            acts = set(as_list(allvalues.get("route53:ChangeResourceRecordSetsActions", [])))
            if "UPSERT" in acts:
                yield f"{name}: UPSERT allowed; wavelb only CREATEs and DELETEs (conditional batches)"
            names |= set(as_list(allvalues.get(NAMES, [])))
    want = EXPECTED_NAMES.get(os.path.basename(path))
    if want is None:
        yield "no expected names for this policy in scripts/check-deploy.sh"
    elif names != want:
        for n in sorted(want - names):
            yield f"the names lack {n!r}"
        for n in sorted(names - want):
            yield f"the names hold {n!r}, which wavelb never writes"

with open("deploy/README.md") as f:
    readme = f.read()
failed = False
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            found = list(problems(path, json.load(f)))
    except (OSError, ValueError, AttributeError, TypeError) as e:
        found = [f"not a valid policy document: {e}"]
    if "iam/" + os.path.basename(path) not in readme:
        found.append("not in deploy/README.md's table")
    for p in found:
        print(f"FAIL {path}: {p}")
    if not found:
        print(f"ok {path}")
    failed |= bool(found)
sys.exit(1 if failed else 0)
PY
# The unit a template writes onto the instance must be systemd/wavelb-agent.service itself, so the
# two cannot drift (a heredoc `cat > /etc/systemd/system/wavelb-agent.service <<'UNIT'`).
"$venv/bin/python" - systemd/wavelb-agent.service "${templates[@]}" <<'PY' || status=1
import sys

unit_path, templates = sys.argv[1], sys.argv[2:]
with open(unit_path) as f:
    unit = f.read()
opener = "cat > /etc/systemd/system/wavelb-agent.service <<'UNIT'"
failed = False
for path in templates:
    with open(path) as f:
        lines = f.read().splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.strip() != opener:
            continue
        indent = line[: len(line) - len(line.lstrip())]
        body = []
        for l in lines[i + 1:]:
            if l.strip() == "UNIT":
                break
            body.append(l[len(indent):] if l.startswith(indent) else l.lstrip(" "))
        if "".join(body) == unit:
            print(f"ok {path}:{i + 1}: the embedded unit is {unit_path}")
        else:
            print(f"FAIL {path}:{i + 1}: the embedded unit differs from {unit_path}; paste that file in")
            failed = True
sys.exit(1 if failed else 0)
PY

# The example's agents keep the product's reconcile interval (300 s): a shorter one makes a
# 100-instance fleet spend most of the account's 5 Route 53 requests/s (docs/configuration.md,
# "Route 53 request budget").
for t in "${templates[@]}"; do
  if grep -nE '^[[:space:]]*reconcile_interval[[:space:]]*=' "$t"; then
    echo "FAIL $t: sets reconcile_interval; keep the product default (300s)"; status=1
  else
    echo "ok $t: agents keep the default reconcile_interval"
  fi
done

# The Prometheus rules: valid, and every alert behaves as its unit tests say (scripts/
# ensure-packages.sh installs promtool). The e2e test `prometheus::` checks their metric names
# against what the binary exposes.
if ! command -v promtool >/dev/null 2>&1; then
  echo "FAIL promtool is not installed: run scripts/ensure-packages.sh (Debian package prometheus)"
  status=1
else
  rules=deploy/prometheus/wavelb-rules.yml
  if promtool check rules "$rules"; then echo "ok $rules: promtool check rules"; else echo "FAIL $rules: promtool check rules"; status=1; fi
  tests=deploy/prometheus/wavelb-rules.test.yml
  if promtool test rules "$tests"; then echo "ok $tests: promtool test rules"; else echo "FAIL $tests: promtool test rules"; status=1; fi
fi
exit $status
