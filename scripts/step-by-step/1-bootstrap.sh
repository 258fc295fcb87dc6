#!/usr/bin/env bash
# Terminal 1: the bootstrap peer. It writes its addresses to bootstrap/multiaddrs.txt,
# where the commands of the other terminals (on this checkout) find them.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec npx meshtown bootstrap --listen "${LISTEN:-/ip4/127.0.0.1/tcp/4710}"
