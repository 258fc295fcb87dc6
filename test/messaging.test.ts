import { expect } from 'chai'
import { MESSAGE_PROTOCOL } from '../src/protocols/messaging/index.js'
import { request, RemoteError, WireError } from '../src/protocols/wire.js'
import { chatTopic } from '../src/protocols/topics.js'
import { z } from 'zod'
import { waitFor } from './helpers/peers.js'
import { TestTown } from './helpers/town.js'

describe('messages between villagers (real peers)', function () {
  this.timeout(60_000)
  let town: TestTown
  afterEach(async () => { await town?.stop() })

  it('private messages on a direct stream, broadcasts on the chat topic, a persisted inbox', async () => {
    town = await new TestTown().start({ villagers: [{ name: 'ann', occupation: 'farmer' }, { name: 'ben', occupation: 'chef' }, { name: 'cy', occupation: 'carpenter' }] })
    await town.waitForMembers(['ann', 'ben', 'cy'])
    let [ann, ben, cy] = ['ann', 'ben', 'cy'].map(n => town.get(n))
    const sent = await ann!.messaging.send('ben', 'wheat for bread?')
    expect(sent.to).to.equal('ben')
    const inbox = ben!.messaging.messages()
    expect(inbox).to.have.length(1)
    expect(inbox[0]).to.include({ kind: 'private', fromName: 'ann', text: 'wheat for bread?', from: ann!.peer.peerId.toString() })
    expect(cy!.messaging.messages(), 'private means private').to.deep.equal([])

    await waitFor(async () => {
      await ann!.messaging.broadcast('market at noon')
      return ben!.messaging.messages().some(m => m.kind === 'broadcast') && cy!.messaging.messages().some(m => m.kind === 'broadcast')
    }, 20_000, 'broadcast reaches everyone', 300)
    expect(cy!.messaging.messages()[0]).to.include({ kind: 'broadcast', fromName: 'ann', text: 'market at noon' })
    expect(ann!.messaging.messages().filter(m => m.kind === 'broadcast'), 'no echo of our own').to.deep.equal([])

    // the inbox survives a restart
    const before = ben!.messaging.messages()
    ben = await town.restartVillager(ben!)
    expect(ben.messaging.messages()).to.deep.equal(before)
  })

  it('refuses bad messages with a clear reason', async () => {
    town = await new TestTown().start({ villagers: [{ name: 'ann', occupation: 'farmer' }, { name: 'ben', occupation: 'chef' }] })
    await town.waitForMembers(['ann', 'ben'])
    const [ann, ben] = ['ann', 'ben'].map(n => town.get(n))
    const code = async (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: any) => e.code)
    expect(await code(ann!.messaging.send('zed', 'hi'))).to.equal('UNKNOWN_VILLAGER')
    expect(await code(ann!.messaging.send('ann', 'hi'))).to.equal('SELF_MESSAGE')
    expect(await code(ann!.messaging.send('ben', '   '))).to.equal('INVALID_MESSAGE')
    expect(await code(ann!.messaging.send('ben', 'x'.repeat(2001)))).to.equal('INVALID_MESSAGE')
    expect(await code(ann!.messaging.broadcast(''))).to.equal('INVALID_MESSAGE')
    // on the wire: a forged sender field does not exist; malformed and oversized frames are refused
    const raw = async (body: unknown): Promise<string> => {
      try {
        await request(ann!.peer.libp2p, ben!.peer.peerId, MESSAGE_PROTOCOL, body, z.object({ id: z.string() }), { maxBytes: 20_000 })
        return 'ok'
      } catch (err) {
        if (err instanceof RemoteError || err instanceof WireError) return err.code
        throw err
      }
    }
    expect(await raw({ text: 'hi', fromName: 'the mayor' })).to.equal('INVALID_REQUEST')
    expect(await raw({ text: 'y'.repeat(9000) })).to.equal('MESSAGE_TOO_LARGE')
    expect(await raw({ text: 5 })).to.equal('INVALID_REQUEST')
    await ann!.peer.pubsub.publish(chatTopic(town.town), new TextEncoder().encode('{"v":1,"id":"x","text":""}'))
    await ann!.peer.pubsub.publish(chatTopic(town.town), new TextEncoder().encode('not json'))
    await waitFor(() => (ben!.messaging.rejections.MALFORMED ?? 0) >= 2, 10_000, 'junk broadcasts refused')
    expect(ben!.messaging.messages()).to.deep.equal([])
  })
})
