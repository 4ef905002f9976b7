#!/usr/bin/env bash
# Install what the deployment tests and `temporal-lambda package` need into <repo>/.venv (pinned):
#   moto[server]    local IAM + CloudFormation endpoints for the deploy/iam/doctor/ship tests
#   cargo-zigbuild  links the Lambda binary against glibc 2.34 (Amazon Linux 2023)
#   ziglang         the zig toolchain cargo-zigbuild drives
#   cargo-lambda    `cargo lambda watch`, the Runtime API emulator Rust developers use (a test
#                   runs the sample under it)
# Idempotent: quiet and fast when everything is installed.
set -euo pipefail

MOTO_VERSION="${MOTO_VERSION:-5.1.22}"
ZIGBUILD_VERSION="${ZIGBUILD_VERSION:-0.20.1}"
ZIGLANG_VERSION="${ZIGLANG_VERSION:-0.13.0.post1}"
CARGO_LAMBDA_VERSION="${CARGO_LAMBDA_VERSION:-1.9.2}"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${repo_root}/.venv"

if [ ! -x "${venv}/bin/python" ]; then
  command -v python3 >/dev/null 2>&1 || { echo "error: python3 is required" >&2; exit 1; }
  echo "Creating virtualenv at ${venv}" >&2
  python3 -m venv "${venv}"
fi

have() {
  local info
  info="$("${venv}/bin/python" -m pip show "$1" 2>/dev/null || true)"
  [[ "${info}" == *$'\n'"Version: $2"$'\n'* ]]
}
if have moto "${MOTO_VERSION}" && have cargo-zigbuild "${ZIGBUILD_VERSION}" && have ziglang "${ZIGLANG_VERSION}" \
  && have cargo-lambda "${CARGO_LAMBDA_VERSION}"; then
  exit 0
fi
echo "Installing moto[server]==${MOTO_VERSION} cargo-zigbuild==${ZIGBUILD_VERSION} ziglang==${ZIGLANG_VERSION} cargo-lambda==${CARGO_LAMBDA_VERSION} into ${venv}" >&2
"${venv}/bin/python" -m pip install --quiet --disable-pip-version-check \
  "moto[server]==${MOTO_VERSION}" "cargo-zigbuild==${ZIGBUILD_VERSION}" "ziglang==${ZIGLANG_VERSION}" \
  "cargo-lambda==${CARGO_LAMBDA_VERSION}"
