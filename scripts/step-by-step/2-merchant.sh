#!/usr/bin/env bash
# Terminal 2: the merchant of the town (fixed prices; villagers buy and sell with it).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec npx meshtown merchant --town "${TOWN:-oak}" --data-dir "${DATA:-.data}/${TOWN:-oak}/merchant"
