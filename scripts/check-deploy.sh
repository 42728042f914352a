#!/usr/bin/env bash
# Checks the deployment artefacts in deploy/: every CloudFormation template passes cfn-lint with no
# error or warning, every IAM policy in deploy/iam/ is least-privilege enough for the agent
# (see deploy/README.md), and the Prometheus rules pass `promtool check rules` and their unit tests
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
import json, sys

CRRS = "route53:changeresourcerecordsets"
KEYS = {"route53:ChangeResourceRecordSetsNormalizedRecordNames",
        "route53:ChangeResourceRecordSetsRecordTypes",
        "route53:ChangeResourceRecordSetsActions"}

def as_list(v):
    return v if isinstance(v, list) else [v]

def problems(doc):
    if doc.get("Version") != "2012-10-17":
        yield 'Version is not "2012-10-17"'
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
        if CRRS in actions:
            for r in as_list(st.get("Resource", [])):
                if "*" in r:
                    yield f"{name}: ChangeResourceRecordSets on resource {r!r}, not one hosted zone"
            present = {k for cond in st.get("Condition", {}).values() for k in cond}
            for k in sorted(KEYS - present):
                yield f"{name}: ChangeResourceRecordSets without the condition key {k}"

failed = False
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            found = list(problems(json.load(f)))
    except (OSError, ValueError, AttributeError, TypeError) as e:
        found = [f"not a valid policy document: {e}"]
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
