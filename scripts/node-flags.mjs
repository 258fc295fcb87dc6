// Node flags every meshtown process runs with: bin/meshtown.js re-executes
// itself with them (same process, same pid), and the benchmark's villager and
// room processes get the same, so that it measures what users run.
//
// --max-semi-space-size=4: V8 lets the young generation of a busy process grow
// to 32 MB per semi-space, 64 MB of mostly dead objects in a villager whose
// live heap is ~30 MB. At 4 MB a villager of a town of 10 or 25 keeps ~40 MB
// less (RSS ~175 -> ~135 MB) at the same CPU per period; a trade at 64 in
// flight costs ~10 % more CPU (at 2 MB 10-19 %, at 8 MB nothing measured, for
// less of the saving). BENCHMARKS.md, the table of changes and Memory.
export const NODE_FLAGS = ['--max-semi-space-size=4']

// A process of many peers (`meshtown room run`: every agent of a room its own peer
// in one process) allocates several times as fast, and a 4 MB young generation
// made it collect garbage so often that the room ran slower: the rooms benchmark,
// ten alternating pairs, slowest agent ~210 -> ~240-270 messages/s (medians) at
// 16 MB, faster in nine, and the room process's RSS lower (fewer objects promoted).
//
// V8 tiers a function up to Maglev after ~400 calls and to TurboFan after ~3,000;
// ten times sooner, the room's delivery path is optimised early in a game instead
// of after minutes: the rooms benchmark, seven alternating pairs, slowest agent
// 271 -> 320 messages/s (medians), faster in six. Not for the one-peer processes:
// a start costs ~70 ms more in compiling (a joining villager was slower in every
// phase of its start), and a warm town of 10 showed no gain worth that
// (BENCHMARKS.md, Rooms and the barrier's reading).
export const EARLY_TIER_UP_FLAGS = ['--invocation-count-for-maglev=40', '--invocation-count-for-turbofan=300']
export const MANY_PEERS_NODE_FLAGS = ['--max-semi-space-size=16', ...EARLY_TIER_UP_FLAGS]

/** The flags for a meshtown command (its arguments, without node's and the script's). */
export function nodeFlagsFor (args = process.argv.slice(2)) {
  return args[0] === 'room' && args[1] === 'run' ? MANY_PEERS_NODE_FLAGS : NODE_FLAGS
}

const flagName = (arg) => arg.split('=')[0].replaceAll('_', '-')

/**
 * The flags of `flags` that neither node's own arguments nor NODE_OPTIONS
 * set already: a user's own setting of a flag wins.
 */
export function missingNodeFlags (execArgv = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? '', flags = NODE_FLAGS) {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].map(flagName))
  return flags.filter(f => !given.has(flagName(f)))
}
