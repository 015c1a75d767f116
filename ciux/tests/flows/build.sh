#!/bin/bash
# fink-broker build.sh (§5.3 scenario 1): reuse the image when it holds the current sources, else
# ignite the build selector and build on top of the noscience base image.
set -euxo pipefail
DIR="$1"
suffix="noscience"
$(ciux get image --check "$DIR" --suffix "$suffix" --env)
if [ "$CIUX_BUILD" = false ]; then
    echo "Image $CIUX_IMAGE_URL already exists, skipping build"
    exit 0
fi
ciux ignite --selector build=noscience "$DIR" --suffix "$suffix"
CIUXCONFIG=$(ciux get configpath --selector build=noscience "$DIR")
. "$CIUXCONFIG"
docker image build --tag "$CIUX_IMAGE_URL" --build-arg "base_image=$ASTROLABSOFTWARE_FINK_FINK_DEPS_NOSCIENCE_ZTF_IMAGE" "$DIR"
echo "built $CIUX_IMAGE_URL"
