#!/usr/bin/env bash
# A local Redis Cluster (3 masters, 3 replicas) with two API processes and two SIP edges on
# it, for trying the many-node set-up (docs/deploy.md). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python scripts/cluster.py "$@"
