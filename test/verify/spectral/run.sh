#!/usr/bin/env bash
# Lint an OpenAPI document (by default the one the service serves at
# /openapi.json) with Spectral and the OWASP API Security ruleset, both pinned in
# package-lock.json. Fails on any error; warnings are printed (the ones we keep
# are justified in docs/api-conventions.md).
#
#   test/verify/spectral/run.sh [served-openapi.json]
#
# Without an argument the served document is produced with
# `go run ./test/verify/servedspec`. Needs Node.js (18.18+ or 20.17+) and npm; the
# packages are installed with `npm ci` into node_modules/ next to this script.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$here"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "spectral: Node.js (18.18+ or 20.17+) and npm are needed" >&2
  exit 1
fi

# Install exactly the locked versions, again whenever the lock file changed.
# --ignore-scripts: no install script runs (Spectral needs none, and one
# dependency, @scarf/scarf, would only send install analytics).
stamp=node_modules/.package-lock.sha256
want="$(node -e 'process.stdout.write(require("crypto").createHash("sha256").update(require("fs").readFileSync("package-lock.json")).digest("hex"))')"
if [ ! -x node_modules/.bin/spectral ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "spectral: npm ci (versions from package-lock.json)"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

mkdir -p build
if [ $# -ge 1 ]; then
  src="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
else
  src="$here/build/served.json"
  (cd "$root" && go run ./test/verify/servedspec -o "$src")
fi
# The served document is one line of JSON; indent it so that Spectral's line
# numbers point somewhere useful. The overrides in .spectral.yaml name this file.
node -e 'const fs=require("fs"); const [src,dst]=process.argv.slice(1); fs.writeFileSync(dst, JSON.stringify(JSON.parse(fs.readFileSync(src,"utf8")),null,2)+"\n")' "$src" build/openapi.json

export SCARF_ANALYTICS=false DO_NOT_TRACK=1
echo "spectral: @stoplight/spectral-cli $(node_modules/.bin/spectral --version), @stoplight/spectral-owasp-ruleset $(node -p 'JSON.parse(require("fs").readFileSync("node_modules/@stoplight/spectral-owasp-ruleset/package.json","utf8")).version')"
status=0
node_modules/.bin/spectral lint --ruleset .spectral.yaml --fail-severity error --quiet \
  -f json -o.json build/spectral.json -f stylish -o.stylish build/spectral.txt \
  build/openapi.json || status=$?
# Every error in full; warnings counted per rule (all of them are in
# build/spectral.txt, and the reasons for keeping them in docs/api-conventions.md).
node - build/spectral.json <<'JS'
const results = require(require("path").resolve(process.argv[2]));
const errors = results.filter(r => r.severity === 0);
for (const e of errors) console.log(`  error    ${e.code}  ${e.path.join(".")}  ${e.message}`);
const counts = {};
for (const r of results) if (r.severity === 1) counts[r.code] = (counts[r.code] || 0) + 1;
for (const [code, n] of Object.entries(counts).sort()) console.log(`  warning  ${code} x${n}`);
console.log(`spectral: ${errors.length} errors, ${results.filter(r => r.severity === 1).length} warnings (details: test/verify/spectral/build/spectral.txt)`);
JS
exit "$status"
