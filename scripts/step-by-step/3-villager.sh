#!/usr/bin/env bash
# Terminals 3, 4, 5: one villager each, e.g.
#   scripts/step-by-step/3-villager.sh alice farmer 5002
#   scripts/step-by-step/3-villager.sh bob chef 5003 heuristic     # played by the heuristic agent
# On a terminal it opens the villager's prompt (type `help`); without an agent,
# time moves only when you act.
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${1:?usage: 3-villager.sh NAME farmer|chef|carpenter API_PORT [AGENT]}
occupation=${2:?usage: 3-villager.sh NAME farmer|chef|carpenter API_PORT [AGENT]}
port=${3:?usage: 3-villager.sh NAME farmer|chef|carpenter API_PORT [AGENT]}
agent=${4:-none}
exec npx meshtown villager --town "${TOWN:-oak}" --name "$name" --occupation "$occupation" \
  --api-port "$port" --data-dir "${DATA:-.data}/${TOWN:-oak}/$name" --agent "$agent"
