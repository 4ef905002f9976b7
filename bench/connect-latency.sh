#!/usr/bin/env bash
# Connect time of a fresh worker: plaintext vs TLS + API key vs mTLS vs the API key read from
# Secrets Manager (moto), through a real nginx TLS front before the real dev server. Prints a
# markdown table; ratios are to plaintext in the same run. Usage: bash bench/connect-latency.sh [samples]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-temporal.sh
bash scripts/install-deploy-tools.sh
bash scripts/install-nginx.sh
export TEMPORAL_LAMBDA_NGINX="$(pwd)/.venv/nginx/usr/sbin/nginx"
cargo run --release -q -p connect-latency -- "${1:-25}"
