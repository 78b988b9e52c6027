#!/bin/sh
# Installs CareGraph into a virtual environment: what the Dockerfile's build stage runs.
#
#   infra/deploy/install.sh [VENV]          (default VENV: /opt/caregraph)
#
# `make install` runs it too (CAREGRAPH_EDITABLE=1 CAREGRAPH_EXTRAS=test), so every `make test`
# exercises the image's install step.
#
# CAREGRAPH_ONNXRUNTIME=gpu (default) keeps onnxruntime-gpu as pyproject.toml pins it (CUDA 13,
# cuDNN 9 at run time; without a GPU it falls back to the CPU); CAREGRAPH_ONNXRUNTIME=cpu
# swaps in the CPU-only onnxruntime of the same version, a much smaller install.
set -eu

venv="${1:-/opt/caregraph}"
here="$(cd "$(dirname "$0")/../.." && pwd)"
python="${PYTHON:-python3}"

extras="${CAREGRAPH_EXTRAS:+[$CAREGRAPH_EXTRAS]}"

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
if [ "${CAREGRAPH_EDITABLE:-0}" = 1 ]; then
  "$venv/bin/pip" install --quiet -e "$here$extras"
else
  "$venv/bin/pip" install --quiet "$here$extras"
fi

case "${CAREGRAPH_ONNXRUNTIME:-gpu}" in
  gpu) ;;
  cpu)
    version="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("onnxruntime-gpu"))')"
    "$venv/bin/pip" uninstall --yes --quiet onnxruntime-gpu
    "$venv/bin/pip" install --quiet "onnxruntime==$version"
    ;;
  *)
    echo "CAREGRAPH_ONNXRUNTIME must be gpu or cpu, not ${CAREGRAPH_ONNXRUNTIME}" >&2
    exit 2
    ;;
esac
"$venv/bin/caregraph" --help >/dev/null
echo "installed CareGraph into $venv (onnxruntime: ${CAREGRAPH_ONNXRUNTIME:-gpu})"
