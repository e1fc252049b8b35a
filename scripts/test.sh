#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this): installs prerequisites, typechecks, lints,
# then runs unit, integration and platform tests (real btrfs / zfs-fuse / REAR need root: run as root or via sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
pnpm exec tsc -p tsconfig.json
pnpm exec eslint .
# Import boundaries (.dependency-cruiser.cjs): no module or folder cycles, shared/ imports neither the agent nor
# the collector, which never import each other. No exceptions.
pnpm run cycles
pnpm exec prettier --check . >/dev/null || { pnpm exec prettier --list-different .; echo 'format: run pnpm format' >&2; exit 1; }
node scripts/run-tests.mjs
