#!/bin/bash
# Records the golden hashes of one released version: runs that version's own binary (`init`) for
# every combination of backend, database, handler set (every set closed under `requires`) and
# app mode, and keeps the `[files]` hashes of each record it writes. The release store test
# (`tests/release_store.rs`) re-renders every combination from `releases/` and must match.
#   tests/golden/<version>.txt       one line per combination:
#                                       <backend> <db> <app|lib> <module> <handlers> <files> <sha256>
#                                       sha256 over the sorted `path=hash` lines of its record
#                                       (`migrations/<timestamp>_x.sql` written `migrations/x.sql`)
#   tests/golden/<version>-full.txt  the whole `path=hash` list of a few combinations
# Usage: scripts/golden-hashes.sh <path to that version's cargo-users binary> <version>
set -euo pipefail
bin=${1:?usage: scripts/golden-hashes.sh <cargo-users binary> <version>}
version=${2:?version}
root=$(git rev-parse --show-toplevel)
out="$root/tests/golden"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" users --version | grep -qx "cargo-users $version" || {
    echo "$bin is not cargo-users $version" >&2
    exit 1
}

handlers=(auth register verify password-reset current-user role-management user-management oauth2)
# Handlers that later versions added (0.3.0: magic-link, openapi, totp), when this binary has them.
"$bin" users init --help | grep -q 'magic-link' && handlers+=(magic-link)
"$bin" users init --help | grep -q 'openapi' && handlers+=(openapi)
"$bin" users init --help | grep -qw 'totp' && handlers+=(totp)
sets=()
for mask in $(seq 1 $(((1 << ${#handlers[@]}) - 1))); do
    chosen=()
    for i in "${!handlers[@]}"; do
        ((mask >> i & 1)) && chosen+=("${handlers[$i]}")
    done
    has() { [[ " ${chosen[*]} " == *" $1 "* ]]; }
    # Only sets closed under `requires` (what `init` resolves a request to).
    if ! has auth && (has current-user || has role-management || has user-management || has oauth2 || has totp); then continue; fi
    if has user-management && ! has role-management; then continue; fi
    if has magic-link && ! { has auth && has verify; }; then continue; fi
    sets+=("$(IFS=,; echo "${chosen[*]}")")
done

normalized() { # the record's [files] as sorted path=hash lines
    sed -n '/^\[files\]/,/^\[/p' "$1/cargo-users.toml" | grep '^"' |
        sed -E 's/^"([^"]+)" = "([0-9a-f]{64})"$/\1=\2/; s#^migrations/[0-9]{14}_#migrations/#' |
        LC_ALL=C sort
}

run() { # backend db app module handlers
    local dir="$work/p" main
    rm -rf "$dir"
    mkdir -p "$dir/src"
    printf '[package]\nname = "demo"\nversion = "0.1.0"\nedition = "2024"\n\n[dependencies]\n' >"$dir/Cargo.toml"
    if [ "$3" = app ]; then main='fn main() {\n    println!("Hello, world!");\n}\n'; else main='fn main() {}\n'; fi
    printf "$main" >"$dir/src/main.rs"
    (cd "$dir" && "$bin" users init --yes --backend "$1" --db "$2" --handlers "$5" --module "src/$4" >/dev/null)
    local recorded
    recorded=$(sed -n 's/^handlers = \[\(.*\)\]$/\1/p' "$dir/cargo-users.toml" | tr -d '" ' )
    [ "$recorded" = "$5" ] || { echo "handlers $5 recorded as $recorded" >&2; exit 1; }
    normalized "$dir" >"$work/list"
    echo "$1 $2 $3 $4 $5 $(wc -l <"$work/list") $(sha256sum <"$work/list" | cut -d' ' -f1)"
}

full=("session sqlite app users auth,register,verify,password-reset,current-user"
    "jwt postgres app users $(IFS=,; echo "${handlers[*]}")"
    "jwt-cookie mysql lib accounts auth,oauth2")
{
    echo "# Golden hashes of cargo-users $version (scripts/golden-hashes.sh, from its own binary)."
    echo "# <backend> <db> <app|lib> <module> <handlers> <files> <sha256 of sorted path=hash lines>"
    for b in session jwt jwt-cookie; do
        for d in sqlite postgres mysql; do
            for a in app lib; do
                for h in "${sets[@]}"; do run $b $d $a users "$h"; done
                run $b $d $a accounts "$(IFS=,; echo "${handlers[*]}")"
            done
        done
    done
} >"$out/$version.txt.tmp"
mv "$out/$version.txt.tmp" "$out/$version.txt"
{
    echo "# Every path=hash of a few combinations of cargo-users $version (scripts/golden-hashes.sh)."
    for combo in "${full[@]}"; do
        read -r b d a m h <<<"$combo"
        run $b $d $a $m "$h" >/dev/null
        normalized "$work/p" | sed "s/^/$b $d $a $m $h /"
    done
} >"$out/$version-full.txt"
echo "$(grep -vc '^#' "$out/$version.txt") combinations in $out/$version.txt"
