# shellcheck shell=bash
# Sourced by the loadtest scripts that drive ../shared/peers: makes the scratch copy they
# run from (../shared may be read-only, and the peers must be built or installed before
# they run), once.
#
#   peers_scratch SRC SCRATCH [node]    # with "node", the Node SDK is npm-installed too
#   peers_scratch SRC SCRATCH node no-limit-echo   # ... and limit-echo is not built
#
# limit-echo is built into the scratch copy's own target/ (CARGO_TARGET_DIR is ignored).

peers_scratch() {
  local src="$1" scratch="$2" with_node="${3:-}" limit_echo="${4:-}"
  [[ -d "$src" ]] || { echo "no peers at $src" >&2; exit 2; }
  if [[ ! -x "$scratch/bench.sh" ||
    (-n "$with_node" && ! -d "$scratch/node-sdk/node_modules/@adobe/target-nodejs-sdk") ]]; then
    rm -rf "$scratch"
    cp -r "$src" "$scratch"
    chmod -R u+w "$scratch"
  fi
  if [[ -n "$with_node" && ! -d "$scratch/node-sdk/node_modules/@adobe/target-nodejs-sdk" ]]; then
    (cd "$scratch/node-sdk" && npm ci --silent)
  fi
  [[ "$limit_echo" == no-limit-echo || -x "$scratch/limit-echo/target/release/limit-echo" ]] ||
    (cd "$scratch/limit-echo" && env -u CARGO_TARGET_DIR cargo build --release --quiet)
}
