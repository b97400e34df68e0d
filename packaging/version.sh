#!/bin/sh
# The package version of this checkout, for Debian's version ordering:
# a release tag v1.2.3 gives 1.2.3; anything else gives
# 0.0.0~git<commit date>.<commit>, which sorts below every release.
set -e
cd "$(dirname "$0")/.."
if tag=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null); then
	echo "${tag#v}"
elif rev=$(git rev-parse --short=12 HEAD 2>/dev/null); then
	echo "0.0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d%H%M%S).$rev"
else
	echo "0.0.0~dev"
fi
