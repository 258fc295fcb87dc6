import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { InvalidArgumentError, Option, type Command } from 'commander'
import { readAddrFile, splitAddrList } from '../node/addresses.js'
import { PROJECT_ROOT } from '../node/project-root.js'
import { UsageError } from '../node/errors.js'
import { createLogger, LOG_FORMATS, type LogFormat, type Logger } from '../node/logger.js'
import { ALL_INTERFACES_LISTEN, createPeer, type MeshPeer } from '../node/peer.js'
import { assertTownName } from '../protocols/town-directory/index.js'

export { PROJECT_ROOT }
/** Where `meshtown bootstrap` publishes its addresses by default, and where peers look. */
export const DEFAULT_BOOTSTRAP_FILE = path.join(PROJECT_ROOT, 'bootstrap', 'multiaddrs.txt')
export const BOOTSTRAP_ENV = 'MESHTOWN_BOOTSTRAP'

export interface LogOptions { logFormat: LogFormat, logLevel: string }

export function addLogOptions (cmd: Command): Command {
  return cmd
    .addOption(new Option('--log-format <format>', 'log lines: pretty (human) or json').choices(LOG_FORMATS as string[]).default('pretty'))
    .addOption(new Option('--log-level <level>', 'trace, debug, info, warn, error').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default(process.env.MESHTOWN_LOG_LEVEL ?? 'info'))
}

export function loggerFor (opts: LogOptions, name: string): Logger {
  return createLogger({ format: opts.logFormat, level: opts.logLevel, name })
}

export function collect (value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

export function parsePort (value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535')
  return n
}

export function parsePositiveInt (value: string): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer')
  return n
}

export function parseNonNegativeInt (value: string): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer')
  return n
}

export function addBootstrapOptions (cmd: Command): Command {
  return cmd
    .option('--bootstrap <multiaddr>', `bootstrap peer address (repeatable; also $${BOOTSTRAP_ENV})`, collect, [])
    .option('--bootstrap-file <file>', `file of bootstrap addresses, one per line (default: ${path.relative(process.cwd(), DEFAULT_BOOTSTRAP_FILE) || DEFAULT_BOOTSTRAP_FILE} when present)`)
    .option('--bootstrap-retries <n>', 'attempts to reach a bootstrap peer before giving up', parseNonNegativeInt, 8)
}

/**
 * Bootstrap addresses from, in order: --bootstrap flags, --bootstrap-file,
 * $MESHTOWN_BOOTSTRAP, and the file a local `meshtown bootstrap` wrote.
 */
export async function resolveBootstrap (opts: { bootstrap: string[], bootstrapFile?: string }): Promise<string[]> {
  const list = [...opts.bootstrap]
  if (opts.bootstrapFile != null) list.push(...await readAddrFile(opts.bootstrapFile))
  const env = process.env[BOOTSTRAP_ENV]
  if (env != null && env.trim() !== '') list.push(...splitAddrList(env))
  if (list.length === 0 && existsSync(DEFAULT_BOOTSTRAP_FILE)) list.push(...await readAddrFile(DEFAULT_BOOTSTRAP_FILE))
  if (list.length === 0) {
    throw new UsageError(`no bootstrap address: pass --bootstrap /ip4/.../tcp/.../p2p/<id>, --bootstrap-file FILE or set $${BOOTSTRAP_ENV} (start one with \`meshtown bootstrap\`)`)
  }
  return [...new Set(list)]
}

/**
 * Run until SIGINT/SIGTERM, then stop gracefully. A second signal while stopping
 * exits at once.
 */
export async function runUntilSignal (stop: () => Promise<void>, log: Logger): Promise<void> {
  await new Promise<void>(resolve => {
    let stopping = false
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log.warn(`${signal} again: exiting without a clean stop`)
        process.exit(130)
      }
      stopping = true
      log.info(`${signal}: stopping`)
      stop().then(resolve, (err) => {
        log.error(`stop failed: ${err.message}`)
        resolve()
      })
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}

export interface TownPeerOptions extends LogOptions {
  town: string
  listen: string[]
  dataDir?: string
  bootstrap: string[]
  bootstrapFile?: string
  bootstrapRetries: number
}

/** The options every peer of a town takes: --town, --listen, --data-dir, bootstrap and logging. */
export function addTownPeerOptions (cmd: Command, what: { role: string, dataDir: string }): Command {
  return addBootstrapOptions(addLogOptions(cmd
    .requiredOption('--town <name>', `the town to ${what.role}`)
    .option('--listen <multiaddr>', 'address to listen on (repeatable; default /ip4/0.0.0.0/tcp/0)', collect, [])
    .option('--data-dir <dir>', what.dataDir)))
}

/** Check the town name, find the bootstrap addresses, open the data dir and start the peer. */
export async function startTownPeer (opts: TownPeerOptions, defaultDataDir: (town: string) => string, log: Logger): Promise<{ peer: MeshPeer, town: string, bootstrap: string[] }> {
  const town = assertTownName(opts.town)
  const bootstrap = await resolveBootstrap(opts)
  const peer = await createPeer({
    dataDir: opts.dataDir ?? defaultDataDir(town),
    listen: opts.listen.length > 0 ? opts.listen : ALL_INTERFACES_LISTEN,
    bootstrap,
    town,
    logger: log,
    keyPass: process.env.MESHTOWN_KEY_PASS
  })
  return { peer, town, bootstrap }
}
