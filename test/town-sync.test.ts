import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { sign, SyncResponseSchema, toSnapshot } from '../src/protocols/clock/codec.js'
import { CLOCK_SYNC_PROTOCOL, CLOCK_SYNC_PROTOCOL_1_0, MAX_SNAPSHOT_BYTES } from '../src/protocols/clock/constants.js'
import { encodeJson, RemoteError, request } from '../src/protocols/wire.js'
import type { JoinStatement, VoteStatement } from '../src/town/clock.js'
import { everyoneActs, publishAs } from './helpers/clock.js'
import { TestTown, type TestVillager } from './helpers/town.js'
import { waitFor } from './helpers/peers.js'

describe('clock catch-up by snapshot (real peers)', function () {
  this.timeout(120_000)
  let town: TestTown
  afterEach(async () => { await town?.stop() })

  async function joinsBy (keys: PrivateKey[], prefix: string, from: TestVillager): Promise<JoinStatement[]> {
    const { day, period } = from.service.clock!.state!
    return Promise.all(keys.map(async (key, i) => sign<JoinStatement>(key, {
      kind: 'join', town: town.town, day, period, voter: peerIdFromPrivateKey(key).toString(), name: `${prefix}${i}`, occupation: 'chef'
    })))
  }

  it('a newcomer takes up a town whose 64 votes back 64 join requests each (1.3 MB in the 1.0.0 form)', async () => {
    const names = ['ann', 'ben', 'cat']
    town = await new TestTown().start({ evictAfterMs: 120_000, villagers: names.map(name => ({ name, occupation: 'farmer' as const })) })
    await town.waitForMembers(names)
    await everyoneActs(town.villagers)
    await town.waitForTime({ day: 1, period: 'noon' })
    const ann = town.get('ann')
    // 64 members whose keys the test holds: admitted by the three at the next boundary
    const keys = await Promise.all(Array.from({ length: 64 }, async () => generateKeyPair('Ed25519')))
    await publishAs(ann, town.town, await joinsBy(keys, 'member', ann))
    await waitFor(() => town.villagers.every(v => Object.keys(v.service.clock!.state!.joins).length === 64), 10_000, 'every member holds the 64 requests')
    await everyoneActs(town.villagers)
    await town.waitForTime({ day: 1, period: 'evening' })
    await waitFor(() => town.villagers.every(v => Object.keys(v.service.clock!.state!.view).length === 67), 10_000, 'the 64 are members')
    // 64 more requests, and the 64 new members' votes backing every one of them: ~21 KB a vote in full
    const newcomerKeys = await Promise.all(Array.from({ length: 64 }, async () => generateKeyPair('Ed25519')))
    const requests = await joinsBy(newcomerKeys, 'newcomer', ann)
    await publishAs(ann, town.town, requests)
    await waitFor(() => town.villagers.every(v => Object.keys(v.service.clock!.state!.joins).length === 64), 10_000, 'every member holds the 64 new requests')
    const votes = await Promise.all(keys.map(async key => sign<VoteStatement>(key, {
      kind: 'vote', town: town.town, day: 1, period: 'evening', voter: peerIdFromPrivateKey(key).toString(), action: 'idle', joins: requests
    })))
    await publishAs(ann, town.town, votes)
    await waitFor(() => town.villagers.every(v => Object.keys(v.service.clock!.state!.votes).length === 64), 10_000, 'every member holds the 64 votes')
    const full = encodeJson({ ok: true, result: { snapshot: toSnapshot(ann.service.clock!.state!) } }).byteLength
    expect(full, 'the snapshot in the 1.0.0 form').to.be.greaterThan(MAX_SNAPSHOT_BYTES)

    // 1.0.0 refuses it with a code rather than sending a frame its caller would drop
    const refusal = await request(town.villagers[1]!.peer.libp2p, ann.peer.peerId, CLOCK_SYNC_PROTOCOL_1_0, { town: town.town }, SyncResponseSchema, {
      maxBytes: MAX_SNAPSHOT_BYTES
    }).then(() => undefined, (err: Error) => err)
    expect(refusal).to.be.instanceOf(RemoteError)
    expect((refusal as RemoteError).code).to.equal('REPLY_TOO_LARGE')

    // a newcomer knows nothing of the town but what a snapshot tells it: it has the time, the 67 members and the 64 votes
    const dan = await town.addVillager('dan', 'chef')
    await waitFor(() => {
      const state = dan.service.clock!.state
      return state?.period === 'evening' && Object.keys(state.view).length === 67 && Object.keys(state.votes).length === 64
    }, 15_000, () => `dan takes up the town; has ${JSON.stringify(dan.service.clock!.time())}, ${Object.keys(dan.service.clock!.state?.view ?? {}).length} members`)
    const theirs = dan.service.clock!.state!
    expect(theirs.votes).to.deep.equal(ann.service.clock!.state!.votes)
    expect(theirs.prev).to.deep.equal(ann.service.clock!.state!.prev)
  })

  it('a peer of an older build, serving only 1.0.0, still gives a newcomer the town', async () => {
    const names = ['ann', 'ben']
    town = await new TestTown().start({ villagers: names.map(name => ({ name, occupation: 'farmer' as const })) })
    await town.waitForMembers(names)
    await everyoneActs(town.villagers)
    await town.waitForTime({ day: 1, period: 'noon' })
    for (const v of town.villagers) await v.peer.libp2p.unhandle(CLOCK_SYNC_PROTOCOL)
    const dan = await town.addVillager('dan', 'chef')
    // with nobody serving 1.1.0, a newcomer learns the town's time from 1.0.0 snapshots only
    await waitFor(() => dan.service.clock!.state?.period === 'noon' && Object.keys(dan.service.clock!.state!.view).length >= 2, 15_000, 'dan takes up the town')
    // and becomes a member at the next boundary
    const annClock = town.get('ann').service.clock!
    await waitFor(() => Object.values(annClock.state!.joins).some(j => j.name === 'dan'), 10_000, 'ann holds dan\'s request')
    await everyoneActs(town.villagers.filter(v => v !== dan))
    await town.waitForMembers(['ann', 'ben', 'dan'])
  })
})
