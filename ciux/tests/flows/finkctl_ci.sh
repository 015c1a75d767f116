#!/bin/bash
# finkctl CI (§5.3 scenario 4): the env file goes where CIUXCONFIG says.
set -euxo pipefail
CIUXCONFIG=/dev/null
export CIUXCONFIG="$OUT/ciux.sh"
ciux ignite --selector ci "$PWD"
. "$CIUXCONFIG"
echo "url=$CIUX_IMAGE_URL"
