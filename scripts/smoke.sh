#!/usr/bin/env bash
# Smoke test of a deployed stack: one read-only call per dialect (and the API's document), each
# with the credentials that dialect's clients send. Changes nothing, so it is safe on prod.
#
#   scripts/smoke.sh URL CELL PERSONIUM_TOKEN ROCKETCHAT_USER_ID ROCKETCHAT_AUTH_TOKEN API_TOKEN
#
# URL: the stack's ApiUrl output (https://<id>.execute-api.<region>.amazonaws.com/<stage>) or its
# CustomDomainUrl (https://<domain>); CELL: the cell the Personium token and the /v1 credential are
# for. docs/deploying.md ("First credentials") says how to issue the three credentials. Prints one
# line per call; exits 1 if any call did not answer 200 with its dialect's body, 2 on wrong usage.
#
# It reads only. On a dev stack, `make e2e STACK=NAME` goes further: an import to done in each dialect,
# with its counts (tests/e2e).
set -u

if [ "$#" -ne 6 ]; then
  echo "usage: scripts/smoke.sh URL CELL PERSONIUM_TOKEN ROCKETCHAT_USER_ID ROCKETCHAT_AUTH_TOKEN API_TOKEN" >&2
  exit 2
fi
url=${1%/}
cell=$2
personium_token=$3
rocketchat_user=$4
rocketchat_token=$5
api_token=$6

failures=0
body=$(mktemp)
trap 'rm -f "$body"' EXIT

# check NAME PATH EXPECTED_BODY_PATTERN [curl options...]: a GET of URL/PATH must answer 200 and a
# body matching the (grep -E) pattern.
check() {
  local name=$1 path=$2 pattern=$3
  shift 3
  local status
  status=$(curl --silent --show-error --max-time 30 --output "$body" --write-out '%{http_code}' \
    "$@" "$url$path") || status="no answer"
  if [ "$status" = 200 ] && grep -Eq "$pattern" "$body"; then
    echo "ok    $name: GET $path -> 200"
  else
    echo "FAIL  $name: GET $path -> $status $(head -c 300 "$body")"
    failures=$((failures + 1))
  fi
}

check personium "/$cell/__import" '"status"' \
  --header "Authorization: Bearer $personium_token"
check rocketchat "/api/v1/getLatestImportOperations" '^\[' \
  --header "X-User-Id: $rocketchat_user" --header "X-Auth-Token: $rocketchat_token"
check native "/v1/cells/$cell/imports" '"items"' \
  --header "Authorization: Bearer $api_token"
check openapi "/openapi.json" '"openapi"'

if [ "$failures" -gt 0 ]; then
  echo "$failures of 4 calls failed against $url" >&2
  exit 1
fi
echo "all 4 calls answered against $url"
