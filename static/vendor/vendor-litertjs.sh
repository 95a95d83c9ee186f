#!/usr/bin/env bash
# Vendor LiteRT.js (the in-browser runtime of the Draw page) from the npm registry into
# static/vendor/litertjs-$VERSION/. Run from the repository root when upgrading, then commit
# the folder and update the version in app_pages/draw_canvas/draw.js (RUNTIME_DIR).
# Nothing is fetched at run time: Streamlit serves these files itself (enableStaticServing).
#
#   static/vendor/vendor-litertjs.sh            # 2.5.3
#   static/vendor/vendor-litertjs.sh 2.6.0      # another version (a new folder)
set -euo pipefail
VERSION=${1:-2.5.3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEST="$ROOT/static/vendor/litertjs-$VERSION"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
npm init -y >/dev/null
npm install --no-audit --no-fund --ignore-scripts "@litertjs/core@$VERSION" "@litertjs/wasm-utils@$VERSION" >/dev/null
N=node_modules/@litertjs
mkdir -p "$DEST/wasm"
# The ES module entry and its one dependency, its bare import rewritten to a relative path
# (no bundler, no import map: the browser loads these files as they are).
cp "$N/core/dist/index.js" "$DEST/litert.js"
cp "$N/wasm-utils/dist/index.js" "$DEST/wasm-utils.js"
sed -i 's#from "@litertjs/wasm-utils"#from "./wasm-utils.js"#' "$DEST/litert.js"
grep -q 'from "./wasm-utils.js"' "$DEST/litert.js"
if grep -n 'from "@litertjs/' "$DEST/litert.js" "$DEST/wasm-utils.js"; then echo "a bare import is left" >&2; exit 1; fi
# Two of the four WebAssembly builds: relaxed SIMD (Chrome, Edge, Firefox) and "compat"
# (Safari and older browsers). Not the threaded build (needs cross-origin isolation, which
# Streamlit's pages don't have) nor JSPI (behind a flag). Gzipped (-9 -n: reproducible),
# served as application/gzip, which Streamlit's gzip middleware leaves alone: the raw 9 MB
# .wasm would be compressed on the fly at every download (about 0.3 s of server CPU each).
for f in litert_wasm_internal litert_wasm_compat_internal; do
  cp "$N/core/wasm/$f.js" "$DEST/wasm/"
  gzip -9 -n -c "$N/core/wasm/$f.wasm" > "$DEST/wasm/$f.wasm.gz"
done
cp "$N/core/package.json" "$DEST/package.json"
cp "$N/wasm-utils/package.json" "$DEST/wasm-utils.package.json"
du -ab "$DEST" | sort -k2
