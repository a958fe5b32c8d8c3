#!/usr/bin/env bash
# Installs the Debian packages some tests use (bubblewrap for the code sandbox, chromium for the
# report check) when they are missing and this user can install them. Never fails the build:
# the tests that need a missing package skip with a reason that names it.
set -u
want=()
command -v bwrap >/dev/null 2>&1 || want+=(bubblewrap)
command -v chromium >/dev/null 2>&1 || want+=(chromium)
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${want[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}") \
    >/tmp/toolgym-apt.log 2>&1 || echo "warning: could not install ${want[*]} (see /tmp/toolgym-apt.log); their tests will skip"
else
  echo "note: ${want[*]} missing and not installable here (needs root and apt-get); their tests will skip"
fi
exit 0
