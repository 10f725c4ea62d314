#!/usr/bin/env bash
# Prints a Python interpreter for the venv: 3.13 (the Lambda runtime's version) when this machine
# has one that runs, else python3 (the code also runs on 3.11).
set -u
candidates=(python3.13)
for dir in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin; do
  [ -x "$dir/python3.13" ] && candidates+=("$dir/python3.13")
done
candidates+=(python3)
for python in "${candidates[@]}"; do
  if "$python" -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1; then
    command -v "$python"
    exit 0
  fi
done
echo "no Python >= 3.11 found" >&2
exit 1
