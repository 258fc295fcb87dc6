import { pino, type Logger } from 'pino'
import pretty from 'pino-pretty'

export type { Logger }
export type LogFormat = 'pretty' | 'json'
export const LOG_FORMATS: readonly LogFormat[] = ['pretty', 'json']

export interface LoggerOptions {
  format?: LogFormat
  level?: string
  name?: string
  /** Defaults to stderr, so stdout stays free for what a command prints (addresses, JSON). */
  destination?: NodeJS.WritableStream
}

/**
 * One logger for the whole process. Human-readable lines by default, JSON lines
 * with `format: 'json'`. libp2p's own debug output (`DEBUG=libp2p:*`) is separate
 * and still works.
 */
export function createLogger (options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.MESHTOWN_LOG_LEVEL ?? 'info'
  const destination = options.destination ?? process.stderr
  const base = { level, name: options.name }
  if (options.format === 'json') {
    return pino({ ...base, base: { name: options.name } }, pino.destination({ dest: destinationFd(destination), sync: true }))
  }
  // sync so that the last lines before exit are not lost
  return pino(base, pretty({
    destination,
    sync: true,
    colorize: false,
    translateTime: 'HH:MM:ss.l',
    ignore: 'pid,hostname'
  }))
}

function destinationFd (stream: NodeJS.WritableStream): number {
  if (stream === process.stdout) return 1
  return 2
}

/** A logger that drops everything: the default for peers created in tests. */
export function silentLogger (): Logger {
  return pino({ level: 'silent' })
}
