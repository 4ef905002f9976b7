#!/usr/bin/env bash
# Unpack Debian's nginx (1.22: TLS + HTTP/2 + grpc_pass, the tests' TLS front in front of the dev
# server) into <repo>/.venv/nginx without installing it: no service is started, no root needed
# beyond what `apt-get download` needs. Prints nothing when it is already there.
# The tests find it through TEMPORAL_LAMBDA_NGINX (exported by scripts/test.sh).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${repo_root}/.venv/nginx"
bin="${dest}/usr/sbin/nginx"
if [ -x "${bin}" ]; then
  exit 0
fi
command -v apt-get >/dev/null 2>&1 || {
  echo "error: apt-get not found: install nginx (1.22+, with ssl and http_v2) and set TEMPORAL_LAMBDA_NGINX=/path/to/nginx" >&2
  exit 1
}
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
echo "Unpacking Debian's nginx into ${dest}" >&2
if ! (cd "${work}" && apt-get download nginx >/dev/null 2>&1); then
  # A fresh machine may have no package lists yet.
  apt-get update -qq >/dev/null
  (cd "${work}" && apt-get download nginx >/dev/null)
fi
mkdir -p "${dest}"
dpkg -x "${work}"/nginx_*.deb "${dest}"
"${bin}" -v
