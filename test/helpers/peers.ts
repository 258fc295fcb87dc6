import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createPeer, type MeshPeer, type PeerOptions } from '../../src/node/peer.js'

/** A temp dir removed by `cleanup()`; every test peer gets its own data dir. */
export async function tempDir (prefix = 'meshtown-test-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix))
}

export async function removeDir (dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

/** Poll `condition` until it holds or `timeoutMs` passes; never a fixed sleep. */
export async function waitFor (condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, what: string | (() => string) = 'condition', intervalMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (true) {
    if (await condition()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`)
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
}

/** Tracks peers and dirs made in a test so `after` stops and removes all of them. */
export class PeerPool {
  readonly peers: MeshPeer[] = []
  readonly dirs: string[] = []

  async dir (): Promise<string> {
    const dir = await tempDir()
    this.dirs.push(dir)
    return dir
  }

  async create (options: Partial<PeerOptions> = {}): Promise<MeshPeer> {
    const peer = await createPeer({ dataDir: options.dataDir ?? await this.dir(), ...options })
    this.peers.push(peer)
    return peer
  }

  async stop (peer: MeshPeer): Promise<void> {
    await peer.stop()
    const i = this.peers.indexOf(peer)
    if (i >= 0) this.peers.splice(i, 1)
  }

  async cleanup (): Promise<void> {
    await Promise.all(this.peers.splice(0).map(async p => p.stop()))
    await Promise.all(this.dirs.splice(0).map(removeDir))
  }
}
