import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { sign } from '../src/protocols/clock/codec.js'
import type { JoinStatement } from '../src/town/clock.js'
import type { Period, TownTime } from '../src/town/rules.js'
import { everyoneActs, publishAs } from './helpers/clock.js'
import { TestTown } from './helpers/town.js'
import { waitFor } from './helpers/peers.js'

const PERIODS: Period[] = ['morning', 'noon', 'evening']

describe('town barrier over gossipsub (real peers)', function () {
  this.timeout(120_000)
  let town: TestTown
  afterEach(async () => { await town?.stop() })

  it('5 villagers and a merchant play 3 full days; all agree at every step; nobody advances early', async () => {
    town = await new TestTown().start({
      merchant: true,
      villagers: [
        { name: 'alice', occupation: 'farmer' }, { name: 'bob', occupation: 'chef' }, { name: 'carol', occupation: 'carpenter' },
        { name: 'dave', occupation: 'farmer' }, { name: 'erin', occupation: 'chef' }
      ]
    })
    const names = ['alice', 'bob', 'carol', 'dave', 'erin']
    await town.waitForMembers(names)
    // every villager buys what it needs for the days ahead from the merchant peer
    for (const v of town.villagers) {
      await v.service.trade('buy', 'temp_room', 3)
      if (v.service.villager!.occupation === 'farmer') await v.service.trade('buy', 'seed', 2)
      if (v.service.villager!.occupation === 'chef') await v.service.trade('buy', 'wheat', 6)
    }
    for (let day = 1; day <= 3; day++) {
      for (const period of PERIODS) {
        const at: TownTime = { day, period }
        await town.waitForTime(at)
        const [last, ...first] = [...town.villagers].reverse()
        for (const v of first) {
          const action = period === 'evening' ? 'sleep' : (period === 'morning' && day <= 2 && v.service.villager!.occupation !== 'carpenter') ? 'produce' : 'idle'
          const out = await v.service.act(action)
          expect(out.time).to.deep.equal(at)
        }
        // every peer holds the four votes, and still nobody has moved on
        await waitFor(() => town.villagers.every(v => v.service.clock!.tally()!.voted.length === 4), 10_000, 'four votes everywhere')
        for (const v of town.villagers) expect(town.time(v), v.name).to.deep.equal(at)
        expect(town.villagers.every(v => v.service.clock!.awaitedNames().join() === last!.name)).to.equal(true)
        await last!.service.act(period === 'evening' ? 'sleep' : 'idle')
      }
    }
    await town.waitForTime({ day: 4, period: 'morning' })
    // the rules ran: two harvests for each farmer, hunger taken three times, three nights slept
    const alice = town.get('alice').service.villager!
    expect(alice.items.wheat).to.equal(10)
    expect(alice.items.temp_room).to.equal(0)
    // carol idled by day and slept each night: back to 100, then day 3's hunger takes 10
    await waitFor(() => town.get('carol').service.villager!.stamina === 90, 5_000, 'hunger at the end of day 3')
  })

  it('65 join requests at once (more than a vote can back): the town goes on and admits 64, the oldest first', async () => {
    const names = ['ann', 'ben', 'cat', 'dan', 'eve']
    town = await new TestTown().start({ evictAfterMs: 30_000, villagers: names.map(name => ({ name, occupation: 'farmer' as const })) })
    await town.waitForMembers(names)
    await everyoneActs(town.villagers)
    await town.waitForTime({ day: 1, period: 'noon' })
    // 65 newcomers' signed requests, as many keys as anyone can make, published by one member in one message
    const ann = town.get('ann')
    const state = ann.service.clock!.state!
    const keys = await Promise.all(Array.from({ length: 65 }, async () => generateKeyPair('Ed25519')))
    const joins = await Promise.all(keys.map(async (key, i) => sign<JoinStatement>(key, {
      kind: 'join', town: town.town, day: state.day, period: state.period, voter: peerIdFromPrivateKey(key).toString(), name: `newcomer${i}`, occupation: 'chef'
    })))
    await publishAs(ann, town.town, joins)
    await waitFor(() => town.villagers.every(v => Object.keys(v.service.clock!.state!.joins).length === 65), 10_000, 'every member holds the 65 requests')
    await everyoneActs(town.villagers)
    await town.waitForTime({ day: 1, period: 'evening' })
    const oldest64 = joins.map(j => j.voter).sort().slice(0, 64)
    for (const v of town.villagers) {
      const view = v.service.clock!.state!.view
      expect(Object.keys(view), v.name).to.have.length(5 + 64)
      expect(oldest64.every(id => Object.hasOwn(view, id)), v.name).to.equal(true)
    }
  })
})
