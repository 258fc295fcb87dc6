import type { Command } from 'commander'
import { UsageError } from '../../node/errors.js'
import { runRepl } from '../repl/index.js'
import { parsePort } from '../common.js'

interface AttachOptions {
  apiPort: number
  host: string
}

export function attachCommand (program: Command): void {
  program.command('attach')
    .description('play a running villager from this terminal: a REPL over its control API (commands read line by line when stdin is a pipe)')
    .requiredOption('--api-port <port>', "the villager's control API port (printed by `meshtown villager` as \"control API: ...\")", parsePort)
    .option('--host <host>', 'where the control API listens (it answers loopback only)', '127.0.0.1')
    .action(async (opts: AttachOptions) => {
      if (opts.apiPort === 0) throw new UsageError('--api-port must be the port the villager listens on, not 0')
      const host = opts.host.includes(':') && !opts.host.startsWith('[') ? `[${opts.host}]` : opts.host
      const apiUrl = `http://${host}:${opts.apiPort}`
      try {
        new URL(apiUrl) // eslint-disable-line no-new
      } catch {
        throw new UsageError(`--host ${opts.host} is not a host name or address`)
      }
      // Ctrl-C at a terminal is readline's; from a pipe it is a signal: leave cleanly either way
      const leaving = new AbortController()
      const onSignal = (): void => { leaving.abort() }
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true
      const code = await runRepl({ apiUrl, input: process.stdin, output: process.stdout, interactive, signal: leaving.signal })
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      if (code !== 0) process.exit(code)
    })
}
