#!/usr/bin/env bash
# Quick start: install what Backstop needs on Debian 12 + Node 20, then run the collector and a local agent
# doing a real backup (scripts/demo.mjs). Ctrl-C stops it; run it again to resume with the same state.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node scripts/demo.mjs
