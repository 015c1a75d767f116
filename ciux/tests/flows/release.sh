#!/bin/bash
# fink-broker release notes (§5.3 scenario 5) and ktbx's relative-path ignite (scenario 3).
set -euxo pipefail
cd "$(dirname "$DIR")"
ciux get deps "./$(basename "$DIR")" -l release
cd "$DIR"
ciux ignite -l gha_dispatch .
ciux tag .
