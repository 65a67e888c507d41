#!/bin/sh
# (Re)creates the release store entry of one released version from its git tag:
#   releases/<version>.toml   template path -> sha256 of its contents (manifest included)
#   releases/blobs/<sha256>   each distinct contents once, shared by every version
# Usage: scripts/store-release.sh v0.1.0
set -eu
tag=${1:?usage: scripts/store-release.sh <tag, e.g. v0.1.0>}
version=${tag#v}
root=$(git rev-parse --show-toplevel)
commit=$(git rev-list -n 1 "$tag")
store="$root/releases"
mkdir -p "$store/blobs"
index="$store/$version.toml"
tmp="$index.tmp"
{
    echo "# The templates of cargo-users $version, as tagged $tag ($commit)."
    echo "# Written by scripts/store-release.sh; the contents are in blobs/<sha256>."
    echo "version = \"$version\""
    echo "commit = \"$commit\""
    echo
    echo "[templates]"
} >"$tmp"
git -C "$root" ls-tree -r --name-only "$commit" -- templates/ | LC_ALL=C sort | while IFS= read -r path; do
    sha=$(git -C "$root" cat-file blob "$commit:$path" | sha256sum | cut -d' ' -f1)
    [ -f "$store/blobs/$sha" ] || git -C "$root" cat-file blob "$commit:$path" >"$store/blobs/$sha"
    echo "\"${path#templates/}\" = \"$sha\"" >>"$tmp"
done
mv "$tmp" "$index"
echo "stored $version: $(grep -c '^"' "$index") templates in $index"
