#!/usr/bin/env bash
# Installs n8n from the npm registry into a cache folder outside the repository and prints that folder.
# Recipe of n8n/README.md ("Running n8n on a machine like this one"): n8n 1.123.81 on Node 20, xlsx
# pinned by an override (n8n asks for an xlsx tarball from a host that is unreachable here), install
# scripts off (isolated-vm cannot build on Node 20), then sqlite3 rebuilt. First run: a few minutes and
# about 1.8 GB; later runs: instant.
#
#   N8N_VERSION    default 1.123.81
#   N8N_CACHE_DIR  default ${XDG_CACHE_HOME:-$HOME/.cache}/kommo-n8n
set -euo pipefail

version="${N8N_VERSION:-1.123.81}"
cache="${N8N_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kommo-n8n}"
target="$cache/n8n-$version"

if [[ -f "$target/.installed" && -x "$target/node_modules/.bin/n8n" ]]; then
    echo "$target"
    exit 0
fi

command -v npm >/dev/null || { echo "npm not found: install Node.js 20 first" >&2; exit 1; }
rm -rf "$target.partial"
mkdir -p "$target.partial"
cd "$target.partial"
cat > package.json <<JSON
{
  "name": "kommo-n8n-runtime",
  "private": true,
  "description": "n8n for the Kommo sales assistant's opt-in tests (not part of the repository)",
  "dependencies": {"n8n": "$version"},
  "overrides": {"xlsx": "0.18.5"}
}
JSON
echo "installing n8n@$version into $target (first time only: a few minutes)" >&2
npm install --ignore-scripts --no-audit --no-fund --loglevel=error >&2
npm rebuild sqlite3 --loglevel=error >&2
touch .installed
cd "$cache"
rm -rf "$target"
mv "$target.partial" "$target"
echo "$target"
