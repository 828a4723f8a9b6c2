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
#   3. every fuzz target for its execution budget (FUZZTIME overrides it)
#
# Needs Go and Node.js (18.18+ or 20.17+) with npm (the Spectral packages are installed
# from package-lock.json on first use). Variables: FUZZTIME (e.g. 30s or 5000x), RAPID_CHECKS=100.
set -uo pipefail
cd "$(dirname "$0")/../.."

# Each fuzz target runs for a number of executions, about what 8 s gave it on
# the 2-core CI machine. A count, not a duration: Go 1.26's fuzz coordinator can
# report a bare "context deadline exceeded" when a -fuzztime duration ends while
# a worker is mid-input (golang/go#75804, fixed in Go 1.27); a count has no
# deadline to race. FUZZTIME=30s (or =5000x) overrides every target's budget.
FUZZTIME="${FUZZTIME:-}"
export RAPID_CHECKS="${RAPID_CHECKS:-100}" # read by rapid itself

# package and target of every fuzz target
FUZZ_TARGETS=(
  "./application/providers FuzzParseSort 200000x"
  "./adapters/httpapi FuzzCursorDecode 16000x"
  "./adapters/httpapi FuzzCursorRoundTrip 8000x"
  "./adapters/httpapi FuzzListProvidersQuery 2500x"
  "./adapters/httpapi FuzzListTransactionsQuery 2500x"
  "./adapters/httpapi FuzzRequestBodies 2500x"
  "./adapters/httpapi FuzzConditionalRequests 1000x"
  "./adapters/accesstoken FuzzVerify 200000x"
  "./adapters/vault FuzzDecrypt 200000x"
  "./adapters/persistence FuzzParseUTCTime 50000x"
  "./domain/money FuzzParseAmount 100000x"
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
  read -r pkg target budget <<<"$t"
  budget="${FUZZTIME:-$budget}"
  step "fuzz $target ($pkg, $budget)" go test -run '^$' -fuzz "^${target}\$" -fuzztime "$budget" "$pkg"
done

printf '\n==> verify summary (%ss)\n' "$((SECONDS - begin))"
printf '  %s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  printf '\nverify failed: %s\n' "$(IFS=';'; echo "${failed[*]}")"
  exit 1
fi
