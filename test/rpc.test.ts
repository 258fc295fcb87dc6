import { expect } from 'chai'
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { z } from 'zod'
import type { MeshPeer } from '../src/node/peer.js'
import { RpcClient } from '../src/protocols/rpc.js'
import { decodeJson, encodeJson, WireError } from '../src/protocols/wire.js'
import { PeerPool, waitFor } from './helpers/peers.js'

const PROTOCOL = '/meshtown/test-rpc/1.0.0'

describe('rpc: one long-lived stream per peer (real peers)', function () {
  this.timeout(30_000)
  const pool = new PeerPool()
  let client: MeshPeer
  let server: MeshPeer
  const streams: Stream[] = []

  beforeEach(async () => {
    client = await pool.create()
    server = await pool.create()
    streams.length = 0
    // the first stream is taken and never read, as by a handler stuck on something; later ones are answered
    await server.libp2p.handle(PROTOCOL, async (stream) => {
      streams.push(stream)
      if (streams.length === 1) return
      const lp = lpStream(stream)
      while (true) {
        const frame = await lp.read().catch(() => undefined)
        if (frame == null) return
        const { id, body } = decodeJson(frame.subarray()) as { id: number, body: unknown }
        await lp.write(encodeJson({ id, ok: true, result: { echo: body } }))
      }
    })
    await client.libp2p.dial(server.libp2p.getMultiaddrs()[0]!)
  })

  afterEach(async () => { await pool.cleanup() })

  it('gives up a stream that answered nothing within the timeout: the next request opens a new one', async () => {
    const rpc = new RpcClient(client.libp2p, PROTOCOL, { maxBytes: 4096, timeoutMs: 500 })
    const first = await rpc.request(server.peerId, 'one', z.unknown()).then(() => undefined, (err: unknown) => err)
    expect(first).to.be.instanceOf(WireError)
    expect((first as WireError).code).to.equal('TIMEOUT')
    // kept, the silent stream would time out every request after it as well
    expect(await rpc.request(server.peerId, 'two', z.strictObject({ echo: z.string() }))).to.deep.equal({ echo: 'two' })
    expect(streams).to.have.length(2)
    await waitFor(() => streams[0]!.status !== 'open', 5_000, 'the silent stream to be closed')
    rpc.close()
  })
})
