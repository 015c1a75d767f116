#!/bin/bash
# fink-broker GitHub e2e workflow steps (§5.3 scenario 2), run from the project directory.
set -euxo pipefail
ciux ignite --selector itest --branch="$GHA_BRANCH_NAME" "$PWD" --suffix "$SUFFIX"
cat .ciux.d/ciux_itest.sh
cluster=$(ciux get clustername "$PWD")
echo "cluster=$cluster"
. .ciux.d/ciux_itest.sh
ciux image load --runner "['ubuntu-22.04']" --image-url "$CIUX_IMAGE_URL" --build-status "$CIUX_BUILD" --artifact-path "$ARTIFACT"
echo "promoted=$CIUX_PROMOTED_IMAGE_URL build=$CIUX_BUILD"
echo "cd_branch=$FINK_CD_WORKBRANCH"
ciux image cleanup --pattern fink-broker --max-age 5d
