import { expect } from 'chai'
import { GossipOutbox } from '../src/protocols/room/outbox.js'

describe('rooms: the gossip outbox', function () {
  it('publishes messages sent in the same moment as one batch, and a lone message alone', async () => {
    const published: string[][] = []
    const outbox = new GossipOutbox<string>(async (items) => { published.push(items) }, s => s.length, { maxMessages: 64, maxBytes: 1_000 })
    await Promise.all(['a', 'b', 'c'].map(async m => outbox.send(m)))
    await outbox.send('d')
    expect(published).to.deep.equal([['a', 'b', 'c'], ['d']])
  })

  it('gathers what is sent while a publish is under way into the next batch, within its limits', async () => {
    const published: string[][] = []
    let release!: () => void
    const first = new Promise<void>(resolve => { release = resolve })
    const outbox = new GossipOutbox<string>(async (items) => {
      published.push(items)
      if (published.length === 1) await first
    }, s => s.length, { maxMessages: 3, maxBytes: 5 })
    const sends = [outbox.send('x')]
    await new Promise(resolve => setImmediate(resolve))
    // while 'x' is being published: four messages of 2 bytes each, so at most two fit in 5 bytes
    sends.push(...['11', '22', '33', '44'].map(async m => outbox.send(m)))
    release()
    await Promise.all(sends)
    expect(published).to.deep.equal([['x'], ['11', '22'], ['33', '44']])
  })

  it('sends an item bigger than the byte limit on its own, and fails every message of a batch whose publish failed', async () => {
    const published: string[][] = []
    const outbox = new GossipOutbox<string>(async (items) => {
      if (items.includes('bad')) throw new Error('no peers')
      published.push(items)
    }, s => s.length, { maxMessages: 8, maxBytes: 6 })
    await outbox.send('too-long')
    const results = await Promise.allSettled(['ok', 'bad'].map(async m => outbox.send(m)))
    expect(published).to.deep.equal([['too-long']])
    expect(results.map(r => r.status)).to.deep.equal(['rejected', 'rejected'])
    await outbox.send('ok')
    expect(published).to.deep.equal([['too-long'], ['ok']])
  })
})
