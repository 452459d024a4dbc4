#!/usr/bin/env bash
# `make run`: the HTTP API and the SIP edge on the embedded SQLite store and rules/.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
STORE="sqlite:///$PWD/var/callpolicy.db"
API_PORT="${CALLPOLICY_API_PORT:-8080}"
mkdir -p var

$BIN/callpolicy check rules
$BIN/python scripts/seed_demo.py "$STORE" rules
if [ ! -s var/operator.key ]; then
  # Shown once: only its hash is stored. Kept in var/ (git-ignored) for this dev set-up.
  $BIN/python -m server keys add --role operator --store "$STORE" > var/operator.key
fi
echo "operator API key: $(cat var/operator.key)  (in var/operator.key)"
echo "API:      http://127.0.0.1:$API_PORT  (OpenAPI at /schema/openapi.json)"
echo "SIP edge: udp 127.0.0.1:5060, trunk 127.0.0.2 -> account demo (config/edge.toml)"

$BIN/python -m server serve --host 127.0.0.1 --port "$API_PORT" --rules rules --store "$STORE" &
api=$!
$BIN/python -m sip_edge --config config/edge.toml --rules rules --store "$STORE" &
edge=$!
trap 'kill $api $edge 2>/dev/null; wait' INT TERM EXIT
# Stop both when either stops.
wait -n $api $edge
