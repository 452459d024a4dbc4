#!/usr/bin/env bash
# `make run`: the HTTP API and the SIP edge on the embedded SQLite store and rules/, and
# a dev carrier (scripts/dev_carrier.py) answering every call at the loopback carrier
# addresses of rules/carriers.toml and the PSAP of config/edge.toml, so an allowed call
# from the demo trunk completes. CALLPOLICY_DEV_CARRIER=0 leaves it out (a real carrier
# or a sipp UAS on those ports). Logs: JSON lines on stderr (CALLPOLICY_LOG_FORMAT=text
# for plain lines). Ctrl-C or SIGTERM stops everything; the edge drains its calls first.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
STORE="sqlite:///$PWD/var/callpolicy.db"
API_PORT="${CALLPOLICY_API_PORT:-8080}"
mkdir -p var

$BIN/callpolicy check rules
$BIN/python scripts/seed_demo.py "$STORE" rules var/web-logins.txt
if [ ! -s var/operator.key ]; then
  # Shown once: only its hash is stored. Kept in var/ (git-ignored) for this dev set-up.
  $BIN/python -m server keys add --role operator --store "$STORE" > var/operator.key
fi
echo "operator API key: $(cat var/operator.key)  (in var/operator.key)"
echo "API:      http://127.0.0.1:$API_PORT  (OpenAPI at /schema/openapi.json)"
echo "web:      http://127.0.0.1:$API_PORT/web/  (logins operator, demo-admin, demo-employee:"
echo "          passwords in var/web-logins.txt)"
echo "SIP edge: udp 127.0.0.1:5060, trunk 127.0.0.2 -> account demo (config/edge.toml)"
echo "          admin and employee API keys: README.md, \"make run\""

pids=()
if [ "${CALLPOLICY_DEV_CARRIER:-1}" != 0 ]; then
  echo "carrier:  dev carrier answering every call (scripts/dev_carrier.py)"
  $BIN/python scripts/dev_carrier.py --rules rules --config config/edge.toml &
  pids+=($!)
fi
$BIN/python -m server serve --host 127.0.0.1 --port "$API_PORT" --rules rules --store "$STORE" &
api=$!
$BIN/python -m sip_edge --config config/edge.toml --rules rules --store "$STORE" &
edge=$!
echo "SIP edge pid $edge: kill -HUP $edge reloads rules and accounts"
pids+=($api $edge)
trap 'kill "${pids[@]}" 2>/dev/null; wait' INT TERM EXIT
# Stop both when either stops.
wait -n $api $edge
