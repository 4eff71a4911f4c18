#!/usr/bin/env bash
# The whole test suite: system setup, build, static checks, then every tier in turn.
# `npm test` runs this. With LVSKIT_REQUIRE_ALL=1 (CI) a tier that cannot run fails.
set -uo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
fail=()

step setup
bash scripts/setup.sh || { echo "setup failed" >&2; exit 1; }

step build
npm run --silent build || exit 1
step typecheck
npm run --silent typecheck || exit 1
step lint
npm run --silent lint || exit 1
step "package check (publint, attw)"
npm run --silent check:package || exit 1

for tier in unit loopback lab kernel; do
  step "tier $tier"
  start=$(date +%s)
  if node scripts/tier.mjs "$tier"; then
    echo "tier $tier: ok ($(( $(date +%s) - start )) s)"
  else
    echo "tier $tier: FAILED ($(( $(date +%s) - start )) s)"
    fail+=("$tier")
  fi
done

if [ ${#fail[@]} -gt 0 ]; then
  echo "FAILED tiers: ${fail[*]}"
  exit 1
fi
echo "all tiers passed"
