import { Command, CommanderError } from 'commander'
import { isMeshtownError } from '../node/errors.js'
import { attachCommand } from './commands/attach.js'
import { agentCommand } from './commands/agent.js'
import { bootstrapCommand } from './commands/bootstrap.js'
import { peerCommand } from './commands/peer.js'
import { roomCommand } from './commands/room.js'
import { merchantCommand } from './commands/merchant.js'
import { observeCommand } from './commands/observe.js'
import { villagerCommand } from './commands/villager.js'

export function buildProgram (): Command {
  const program = new Command('meshtown')
    .description('Meshtown: a peer-to-peer virtual town and LLM game-room host on libp2p')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`meshtown: ${str.replace(/^error: /, 'error: ')}`) })
  bootstrapCommand(program)
  peerCommand(program)
  roomCommand(program)
  merchantCommand(program)
  villagerCommand(program)
  agentCommand(program)
  attachCommand(program)
  observeCommand(program)
  for (const cmd of program.commands) cmd.exitOverride()
  return program
}

/** Exit codes: 0 ok, 1 unexpected, 2 usage, 3 data dir, 4 key, 5 bootstrap unreachable. */
export async function main (argv: string[]): Promise<void> {
  const program = buildProgram()
  try {
    await program.parseAsync(argv)
  } catch (err: any) {
    if (err instanceof CommanderError) {
      // commander already printed its one-line message; help and version are not errors
      process.exit(err.exitCode === 0 ? 0 : 2)
    }
    if (isMeshtownError(err)) {
      process.stderr.write(`meshtown: error: ${err.message}\n`)
      process.exit(err.exitCode)
    }
    process.stderr.write(`meshtown: unexpected error: ${err?.stack ?? err}\n`)
    process.exit(1)
  }
  process.exit(0)
}
