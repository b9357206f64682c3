#!/usr/bin/env bash
# Set up a fresh machine for research_harness.
#  - CPU machine: installs the CPU wheel torch==2.13.0 (an unpinned torch would pull a multi-GB CUDA build).
#  - GPU machine: an already-installed CUDA torch is kept as it is.
#  - pdflatex (Debian texlive) for the paper's PDF, when apt-get is available and we are root.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if $PY -c "import torch" 2>/dev/null; then
  echo "[setup] keeping installed torch $($PY -c 'import torch; print(torch.__version__, "cuda" if torch.cuda.is_available() else "cpu")')"
else
  echo "[setup] installing torch==2.13.0 (CPU wheel)"
  $PY -m pip install -q torch==2.13.0
fi
$PY -m pip install -q -e .

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
