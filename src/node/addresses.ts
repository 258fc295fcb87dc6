import { readFile } from 'node:fs/promises'
import { CODE_P2P, multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { InvalidMultiaddrError, UsageError } from './errors.js'

/** Parse a listen address; refuse anything libp2p would reject later with a stack trace. */
export function parseListenAddr (text: string): Multiaddr {
  return parse(text, 'listen address')
}

/** A bootstrap address must name the peer it reaches: `/ip4/.../tcp/.../p2p/<PeerId>`. */
export function parseBootstrapAddr (text: string): Multiaddr {
  const ma = parse(text, 'bootstrap address')
  if (ma.getComponents().findLast(c => c.code === CODE_P2P)?.value == null) {
    throw new InvalidMultiaddrError(`bootstrap address "${text}" has no /p2p/<PeerId> part: copy the full address the bootstrap peer printed`)
  }
  return ma
}

export function peerIdOfAddr (ma: Multiaddr): string | undefined {
  return ma.getComponents().findLast(c => c.code === CODE_P2P)?.value
}

function parse (text: string, what: string): Multiaddr {
  const trimmed = text.trim()
  if (trimmed === '') throw new InvalidMultiaddrError(`empty ${what}`)
  try {
    return multiaddr(trimmed)
  } catch (err: any) {
    throw new InvalidMultiaddrError(`invalid ${what} "${trimmed}": ${err.message ?? err}`)
  }
}

/** Split a list from an env var or a file: whitespace, commas or newlines; `#` starts a comment. */
export function splitAddrList (text: string): string[] {
  return text
    .split('\n')
    .map(line => line.replace(/#.*$/, ''))
    .flatMap(line => line.split(/[\s,]+/))
    .filter(s => s !== '')
}

export async function readAddrFile (file: string): Promise<string[]> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err: any) {
    throw new UsageError(`cannot read bootstrap file ${file}: ${err.code ?? err.message}`)
  }
  return splitAddrList(text)
}
