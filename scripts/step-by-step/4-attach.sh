#!/usr/bin/env bash
# Any terminal: play a running villager from its control API port, e.g.
#   scripts/step-by-step/4-attach.sh 5002
set -euo pipefail
cd "$(dirname "$0")/../.."
exec npx meshtown attach --api-port "${1:?usage: 4-attach.sh API_PORT}"
