#!/usr/bin/env bash
# `make verify`: checks that the API is what its OpenAPI document says, judged
# by tools nobody on the team wrote (see docs/api-conventions.md, "Outside
# verification"). Every step runs even when an earlier one fails; the summary
# names the failures and the exit status is 1 if there was any.
#
#   1. Spectral + the OWASP API Security ruleset on the served /openapi.json
#   2. the oapi-codegen client regenerated from the served document (must equal
#      test/verify/client/client.gen.go), a whole journey through it, and the
#      BOLA property check (rapid)
#   3. every fuzz target for FUZZTIME (default 8s) each
#
# Needs Go and Node.js (18.18+ or 20.17+) with npm (the Spectral packages are installed
# from package-lock.json on first use). Variables: FUZZTIME=8s, RAPID_CHECKS=100.
set -uo pipefail
cd "$(dirname "$0")/../.."

FUZZTIME="${FUZZTIME:-8s}"
export RAPID_CHECKS="${RAPID_CHECKS:-100}" # read by rapid itself

# package and target of every fuzz target
FUZZ_TARGETS=(
  "./application/providers FuzzParseSort"
  "./adapters/httpapi FuzzCursorDecode"
  "./adapters/httpapi FuzzCursorRoundTrip"
  "./adapters/httpapi FuzzListProvidersQuery"
  "./adapters/httpapi FuzzRequestBodies"
  "./adapters/httpapi FuzzConditionalRequests"
  "./adapters/accesstoken FuzzVerify"
  "./adapters/vault FuzzDecrypt"
)

failed=()
summary=()
step() { # step NAME COMMAND...
  local name="$1" start=$SECONDS status=0
  shift
  printf '\n==> %s\n' "$name"
  "$@" || status=$?
  local took=$((SECONDS - start))
  if [ "$status" -eq 0 ]; then
    summary+=("ok    ${took}s  $name")
  else
    summary+=("FAIL  ${took}s  $name")
    failed+=("$name")
  fi
}

begin=$SECONDS
step "spectral (OWASP) on the served /openapi.json" bash test/verify/spectral/run.sh
step "generated client, journey and BOLA property (test/verify)" \
  go test -count=1 ./test/verify/...
for t in "${FUZZ_TARGETS[@]}"; do
  read -r pkg target <<<"$t"
  step "fuzz $target ($pkg, $FUZZTIME)" go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"
done

printf '\n==> verify summary (%ss)\n' "$((SECONDS - begin))"
printf '  %s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  printf '\nverify failed: %s\n' "$(IFS=';'; echo "${failed[*]}")"
  exit 1
fi
