/**
 * Errors a user can cause by how they start a peer. Each carries a stable
 * `code` and the process exit code the CLI uses for it, so scripts can tell
 * what went wrong without parsing messages.
 */
export abstract class MeshtownError extends Error {
  abstract readonly code: string
  abstract readonly exitCode: number
}

export class InvalidMultiaddrError extends MeshtownError {
  readonly code = 'ERR_INVALID_MULTIADDR'
  readonly exitCode = 2
  override name = 'InvalidMultiaddrError'
}

export class DataDirLockedError extends MeshtownError {
  readonly code = 'ERR_DATA_DIR_LOCKED'
  readonly exitCode = 3
  override name = 'DataDirLockedError'
}

export class DataDirError extends MeshtownError {
  readonly code = 'ERR_DATA_DIR'
  readonly exitCode = 3
  override name = 'DataDirError'
}

export class UnreadableKeyError extends MeshtownError {
  readonly code = 'ERR_UNREADABLE_KEY'
  readonly exitCode = 4
  override name = 'UnreadableKeyError'
}

export class BootstrapUnreachableError extends MeshtownError {
  readonly code = 'ERR_BOOTSTRAP_UNREACHABLE'
  readonly exitCode = 5
  override name = 'BootstrapUnreachableError'
}

export class UsageError extends MeshtownError {
  readonly code = 'ERR_USAGE'
  readonly exitCode = 2
  override name = 'UsageError'
}

export function isMeshtownError (err: unknown): err is MeshtownError {
  return err instanceof MeshtownError
}
