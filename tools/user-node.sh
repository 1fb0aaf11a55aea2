#!/bin/sh
# Prints the path of the user's own Node: the first `node` on PATH outside node_modules. npm scripts put
# node_modules/.bin (and its Node 22 for the tools) first, and a nested `npm run` reports that Node as its own,
# so the library's floor (Node ≥ 20.3) is tested with the Node the user installed, found here.
IFS=:
for dir in $PATH; do
  case "$dir" in *node_modules*) continue ;; esac
  if [ -x "$dir/node" ]; then
    echo "$dir/node"
    exit 0
  fi
done
echo "tools/user-node.sh: no node on PATH outside node_modules" >&2
exit 1
