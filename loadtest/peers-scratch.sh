# Sourced by the loadtest scripts that drive ../shared/peers: makes the scratch copy they
# run from (../shared may be read-only, and the peers must be built or installed before
# they run), once.
#
#   peers_scratch SRC SCRATCH [node]    # with "node", the Node SDK is npm-installed too

peers_scratch() {
  local src="$1" scratch="$2" with_node="${3:-}"
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
  [[ -x "$scratch/limit-echo/target/release/limit-echo" ]] ||
    (cd "$scratch/limit-echo" && cargo build --release --quiet)
}
