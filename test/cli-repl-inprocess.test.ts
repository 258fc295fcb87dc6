import { expect } from 'chai'
import { PassThrough } from 'node:stream'
import { runRepl } from '../src/cli/repl/index.js'
import { closest, editDistance } from '../src/cli/repl/suggest.js'
import { diffTime, diffTrades } from '../src/cli/repl/town-watcher.js'
import { HttpError, startControlApi, type ControlApi, type Routes } from '../src/town/control-api.js'
import type { Trade } from '../src/town/trades.js'
import { waitFor } from './helpers/peers.js'

// runRepl in this process, as `meshtown villager` runs it, against a stub control
// API whose answers the test changes: fast checks of the polling, diffing,
// reconnecting and prompt logic that the process tests (cli-repl.test.ts) drive end to end.

function stubVillager () {
  const state = {
    time: { town: 'oak', synced: true, day: 2, period: 'noon', member: true, voted: false, awaiting: ['alice', 'bob'] } as Record<string, unknown>,
    messages: [] as unknown[],
    received: [] as Trade[]
  }
  const routes: Routes = {
    'GET /health': () => ({ ok: true, peerId: 'p', town: 'oak', villager: 'alice', connections: 1 }),
    'GET /time': () => state.time,
    'GET /trades': () => state.received,
    'GET /mytrades': () => [],
    'GET /messages': () => state.messages,
    'GET /villager': () => ({ name: 'alice', occupation: 'farmer', gender: 'female', personality: '', stamina: 80, coins: 70, items: { seed: 9, wheat: 5, bread: 0, wood: 0, house: 0, temp_room: 0 } }),
    'POST /action/idle': () => {
      state.time = { ...state.time, voted: true, awaiting: ['bob'] }
      return { effect: { kind: 'idled' }, villager: routes['GET /villager']!({} as any), time: { day: 2, period: 'noon' } }
    }
  }
  return { state, routes }
}

function trade (over: Partial<Trade>): Trade {
  return {
    id: 't1', initiator: 'peerB', initiatorName: 'bob', counterparty: 'peerA', counterpartyName: 'alice', side: 'sell', item: 'bread', quantity: 2,
    unitPrice: 15, expiresAt: Date.now() + 60_000, role: 'counterparty', status: 'received', escrow: null, delivered: true, createdAt: 1, updatedAt: 1, ...over
  }
}

describe('the villager REPL in-process (stub control API)', function () {
  this.timeout(20_000)
  let api: ControlApi | undefined
  const stops: AbortController[] = []
  afterEach(async () => {
    for (const c of stops.splice(0)) c.abort()
    await api?.close()
    api = undefined
  })

  function session (apiUrl: string, interactive: boolean) {
    const input = new PassThrough()
    const output = new PassThrough()
    let text = ''
    // the terminal's cursor moves and line clears are not what a player reads
    output.on('data', (d) => { text += String(d).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '') })
    const stop = new AbortController()
    stops.push(stop)
    const done = runRepl({ apiUrl, input, output, interactive, signal: stop.signal, pollIntervalMs: 50 })
    return {
      input,
      done,
      stop,
      get text () { return text },
      async waitFor (pattern: RegExp, since = 0) {
        await waitFor(() => pattern.test(text.slice(since)), 5_000, () => `${pattern} in:\n${text.slice(since)}`)
      }
    }
  }

  it('prints news as it arrives, once, and ends with 0 when its signal aborts', async () => {
    const stub = stubVillager()
    api = await startControlApi(stub.routes, 0)
    const s = session(api.url, false)
    await s.waitFor(/connected to alice@oak at http:\/\/127\.0\.0\.1:\d+\nday 2 noon, to act\n/)
    stub.state.messages.push({ id: 'm1', kind: 'private', from: 'peerB', fromName: 'bob', text: 'bread for wheat?', time: Date.now() })
    stub.state.received.push(trade({}))
    await s.waitFor(/\* \d\d:\d\d:\d\d message from bob: bread for wheat\?/)
    await s.waitFor(/\* trade request from bob: trade t1: you buy 2 bread from bob at 15 each \(30 coins\): received; accept t1 or reject t1/)
    s.input.write('idle\n')
    await s.waitFor(/idled this period \(now stamina 80, coins 70\)\n\* waiting for bob\n/)
    stub.state.time = { ...stub.state.time, period: 'evening', voted: false, awaiting: ['alice', 'bob'] }
    await s.waitFor(/-- time advances: day 2 noon -> day 2 evening --/)
    stub.state.received[0] = trade({ status: 'expired', updatedAt: 2 })
    await s.waitFor(/\* trade t1: .*: expired/)
    s.stop.abort()
    expect(await s.done).to.equal(0)
    for (const once of [/message from bob/g, /trade request from bob/g, /time advances/g, /: expired/g]) expect(s.text.match(once), String(once)).to.have.length(1)
  })

  it('reports a villager that stops answering once, backs off, and reconnects on the same port', async () => {
    const stub = stubVillager()
    api = await startControlApi(stub.routes, 0)
    const port = api.port
    const s = session(api.url, false)
    await s.waitFor(/connected to alice@oak/)
    await api.close()
    api = undefined
    await s.waitFor(/\* villager at http:\/\/127\.0\.0\.1:\d+ is not answering; retrying\.\.\./)
    stub.state.messages.push({ id: 'm2', kind: 'broadcast', from: 'peerB', fromName: 'bob', text: 'while you were away', time: Date.now() })
    api = await startControlApi(stub.routes, port)
    await s.waitFor(/\* villager at http:\/\/127\.0\.0\.1:\d+ is back: alice@oak\n[\s\S]*broadcast from bob: while you were away/)
    expect(s.text.match(/not answering/g)).to.have.length(1)
    s.input.end()
    expect(await s.done).to.equal(0)
  })

  it('in a terminal: a prompt with the day, the period and whether the villager acted, redrawn when that changes', async () => {
    const stub = stubVillager()
    api = await startControlApi(stub.routes, 0)
    const s = session(api.url, true)
    await s.waitFor(/alice@oak \[day 2 noon, to act\] > $/)
    const since = s.text.length
    s.input.write('idle\r')
    await s.waitFor(/alice@oak \[day 2 noon, acted\] > $/, since)
    s.input.write('quit\r')
    expect(await s.done).to.equal(0)
  })

  it('in a terminal: Ctrl-C gives up a question of create, and twice at the prompt leaves', async () => {
    const stub = stubVillager()
    stub.routes['GET /villager'] = () => { throw new HttpError(404, 'NO_VILLAGER', 'no villager on this peer yet') }
    stub.routes['GET /health'] = () => ({ ok: true, peerId: 'p', town: 'oak', villager: null, connections: 1 })
    api = await startControlApi(stub.routes, 0)
    const s = session(api.url, true)
    await s.waitFor(/oak \[no villager: type create\] > $/)
    s.input.write('create\r')
    await s.waitFor(/name: $/)
    s.input.write('bad name\r')
    await s.waitFor(/a name is 1 to 32 letters, digits, _ or - \(no spaces\); try again\n[\s\S]*name: $/)
    s.input.write('\x03')
    await s.waitFor(/create cancelled: no villager was made\n[\s\S]*oak \[no villager: type create\] > $/)
    s.input.write('\x03')
    await s.waitFor(/press Ctrl-C again, or type quit, to leave/)
    s.input.write('\x03')
    expect(await s.done).to.equal(0)
  })

  it('suggests by edit distance, counting a swap as one slip', () => {
    expect(editDistance('prodce', 'produce')).to.equal(1)
    expect(editDistance('prodcue', 'produce')).to.equal(1)
    const words = ['info', 'i', 'produce', 'work', 'prices', 'p', 'trades', 'mytrades', 'exit', 'quit']
    expect(closest('prodce', words)).to.equal('produce')
    expect(closest('mytrade', words)).to.equal('mytrades')
    expect(closest('qiut', words)).to.equal('quit')
    expect(closest('frobnicate', words)).to.equal(undefined)
  })

  it('diffs: who is awaited is news only once we have acted; an older trade answer never undoes a newer one', () => {
    const t = (o: object) => ({ town: 'oak', synced: true, day: 1, period: 'morning' as const, member: true, voted: false, awaiting: ['alice', 'bob'], ...o })
    expect(diffTime(t({}), t({ awaiting: ['bob'] }))).to.deep.equal([])
    expect(diffTime(t({}), t({ voted: true, awaiting: ['bob'] }))).to.deep.equal(['* waiting for bob'])
    expect(diffTime(t({ voted: true, awaiting: ['bob'] }), t({ voted: true, awaiting: ['bob'] }))).to.deep.equal([])
    expect(diffTime(t({ voted: true, awaiting: ['bob'] }), t({ period: 'noon' }))).to.deep.equal(['-- time advances: day 1 morning -> day 1 noon --'])
    const known = new Map([['peerB/t1', trade({ status: 'accepted', updatedAt: 5 })]])
    expect(diffTrades(known, [trade({ status: 'received', updatedAt: 1 })])).to.deep.equal([])
    expect(diffTrades(known, [trade({ status: 'committed', updatedAt: 6 })])).to.have.length(1)
  })
})
