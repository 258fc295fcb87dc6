import { expect } from 'chai'
import { createOpenAIAgent, retryAfterMs, type OpenAIAgentOptions } from '../src/agents/openai-agent.js'
import { parseToolCall, toolDefinitions, toolsFor } from '../src/agents/openai-tools.js'
import { runVillagerAgent, type RunVillagerAgentOptions, type TurnRecord } from '../src/agents/villager-driver.js'
import type { AgentLog } from '../src/agents/villager-agent.js'
import { startControlApi, villagerRoutes, type ControlApi } from '../src/town/control-api.js'
import { FakeOpenAIServer, toolCall, toolResults } from './helpers/openai-server.js'
import { waitFor } from './helpers/peers.js'
import { TestTown, type TestVillager } from './helpers/town.js'

/** alice the farmer, played by the openai agent against the fake endpoint; bob the chef, played by the test. */
class Harness {
  town!: TestTown
  alice!: TestVillager
  bob!: TestVillager
  api!: ControlApi
  readonly server = new FakeOpenAIServer()
  readonly records: TurnRecord[] = []
  readonly logs: string[] = []
  private readonly controller = new AbortController()
  private done?: Promise<void>

  async setup (): Promise<this> {
    this.town = await new TestTown().start({ merchant: true, villagers: [{ name: 'alice', occupation: 'farmer' }, { name: 'bob', occupation: 'chef' }] })
    this.alice = this.town.get('alice')
    this.bob = this.town.get('bob')
    await this.town.waitForMembers(['alice', 'bob'])
    await waitFor(async () => this.alice.service.prices().then(() => true, () => false), 20_000, 'the merchant')
    this.api = await startControlApi(villagerRoutes(this.alice.peer, this.alice.service, { trades: this.alice.trades, messaging: this.alice.messaging }), 0)
    await this.server.start()
    return this
  }

  /** Start driving alice with the openai agent; the server's script must be in place. */
  drive (agent: Partial<OpenAIAgentOptions> = {}, driver: Partial<RunVillagerAgentOptions> = {}): void {
    const log: AgentLog = {
      info: (m) => { this.logs.push(`info ${m}`) },
      warn: (m) => { this.logs.push(`warn ${m}`) },
      debug: () => {}
    }
    this.done = runVillagerAgent({
      apiUrl: this.api.url,
      agent: createOpenAIAgent({ model: 'test-model', baseURL: this.server.url, apiKey: 'test-key', requestTimeoutMs: 1_000, backoffInitialMs: 50, backoffMaxMs: 200, seed: 1, ...agent }),
      log,
      signal: this.controller.signal,
      seed: 1,
      pollIntervalMs: 50,
      turnDeadlineMs: 10_000,
      onTurn: (r) => { this.records.push(r) },
      ...driver
    })
  }

  async turns (n: number, timeoutMs = 20_000): Promise<TurnRecord[]> {
    await waitFor(() => this.records.length >= n, timeoutMs, () => `${n} turns; have ${this.records.length}; log:\n${this.logs.join('\n')}`)
    return this.records
  }

  /** alice's vote in the current period, as every peer's clock holds it. */
  aliceVote (): string | undefined {
    return this.bob.service.clock!.tally()!.members.find(m => m.name === 'alice')!.action
  }

  async stop (): Promise<void> {
    this.controller.abort()
    await this.done
    await this.api?.close()
    await this.server.stop()
    await this.town?.stop()
  }
}

describe('openai villager agent against a local OpenAI-compatible server (real client, real villager)', function () {
  this.timeout(90_000)
  let h: Harness
  beforeEach(async () => { h = await new Harness().setup() })
  afterEach(async () => { await h.stop() })

  it('good tool calls: the model looks, buys, produces; one vote, and the result reaches the villager', async () => {
    h.server.script(
      { content: 'First I look around.', toolCalls: [{ name: 'get_status', arguments: {} }] },
      { content: 'A farmer needs a seed.', toolCalls: [{ name: 'buy', arguments: { item: 'seed', quantity: 1 } }] },
      toolCall('produce')
    )
    h.drive()
    const [turn] = await h.turns(1)
    expect(turn).to.deep.include({ day: 1, period: 'morning', reason: 'period', decidedBy: 'agent', voted: true })
    expect(turn!.agentError).to.equal(undefined)
    expect(turn!.results.map(r => [r.action.type, r.ok])).to.deep.equal([['buy', true], ['produce', true]])
    const alice = h.alice.service.villager!
    expect(alice).to.deep.include({ coins: 97, stamina: 80 })
    expect(alice.items).to.deep.include({ seed: 0, wheat: 5 })
    // exactly one period action: alice voted produce, and the town still waits for bob
    await waitFor(() => h.aliceVote() === 'produce', 10_000, 'alice\'s vote at bob\'s peer')
    expect(h.bob.service.clock!.awaitedNames()).to.deep.equal(['bob'])
    // what the model was told: every tool, and each result in turn
    const [first, second, third] = h.server.requests
    expect(first!.body.model).to.equal('test-model')
    expect(first!.tools).to.include.members(['get_status', 'produce', 'sleep', 'idle', 'eat', 'buy', 'sell', 'propose_trade', 'accept_trade', 'end_turn'])
    expect(first!.messages[1].content).to.match(/day 1, morning/)
    expect(toolResults(second!)[0]).to.deep.include({ time: { day: 1, period: 'morning', voted: false } })
    expect(toolResults(third!)[0]).to.deep.include({ ok: true })
    expect(toolResults(third!)[0].result.villager.items.seed).to.equal(1)
    // the vote ended the turn: no further call, and nothing more for this period
    expect(h.server.requests).to.have.length(3)
    expect(h.logs.some(l => /reasoning: A farmer needs a seed\./.test(l))).to.equal(true)
    expect(h.logs.some(l => /action produce -> ok/.test(l))).to.equal(true)
  })

  it('invalid JSON, an unknown tool and wrong arguments go back to the model with the error, and it recovers', async () => {
    h.server.script(
      { toolCalls: [{ name: 'buy', arguments: '{"item": "seed", "quantity": ' }] },
      toolCall('fly', { to: 'the moon' }),
      toolCall('buy', { item: 'gold', quantity: -2 }),
      toolCall('buy', { item: 'seed', quantity: 1 }),
      toolCall('produce')
    )
    h.drive()
    const [turn] = await h.turns(1)
    expect(turn).to.deep.include({ decidedBy: 'agent', voted: true })
    const errors = h.server.requests.slice(1, 4).map(r => toolResults(r)[0].error)
    expect(errors.map(e => e.code)).to.deep.equal(['INVALID_TOOL_CALL', 'INVALID_TOOL_CALL', 'INVALID_TOOL_CALL'])
    expect(errors[0].message).to.match(/arguments of buy are not valid JSON/)
    expect(errors[1].message).to.match(/unknown tool "fly"; the tools are: get_status, produce/)
    expect(errors[2].message).to.match(/invalid arguments for buy: item: .*; quantity: Too small/)
    // none of the bad calls reached the villager; the good ones did
    expect(turn!.results.map(r => r.action.type)).to.deep.equal(['buy', 'produce'])
    expect(h.alice.service.villager).to.deep.include({ coins: 97 })
    expect(h.alice.service.villager!.items.wheat).to.equal(5)
    await waitFor(() => h.aliceVote() === 'produce', 10_000, 'alice\'s vote')
  })

  it('only bad answers: after 3 retries the heuristic plays the period', async () => {
    h.server.script(
      { content: 'I think I will farm today.' },
      { toolCalls: [{ name: 'produce', arguments: 'not json' }] },
      toolCall('teleport'),
      toolCall('sell', { item: 'wheat' }),
      // never asked: the agent has given up by now
      toolCall('idle')
    )
    h.drive()
    const [turn] = await h.turns(1)
    expect(turn).to.deep.include({ reason: 'period', decidedBy: 'fallback', voted: true })
    expect(turn!.agentError).to.match(/the model gave 4 invalid answers/)
    expect(h.server.requests).to.have.length(4)
    expect(h.server.pending).to.equal(1)
    // the heuristic's turn for a new farmer: a seed from the merchant, then produce
    expect(turn!.results.map(r => `${r.action.type}:${r.ok}`)).to.deep.equal(['buy:true', 'produce:true'])
    expect(h.alice.service.villager).to.deep.include({ coins: 97 })
    await waitFor(() => h.aliceVote() === 'produce', 10_000, 'alice\'s vote')
    expect(h.logs.some(l => /agent openai:test-model failed: the model gave 4 invalid answers.*falling back/.test(l))).to.equal(true)
  })

  it('429s are retried after their Retry-After, then the model goes on', async () => {
    h.server.script(
      { status: 429, headers: { 'retry-after': '1' }, body: { error: { message: 'slow down', type: 'rate_limit' } } },
      toolCall('buy', { item: 'seed', quantity: 1 }),
      { status: 429, headers: { 'retry-after-ms': '150' } },
      { status: 503 },
      toolCall('produce')
    )
    h.drive()
    const [turn] = await h.turns(1)
    expect(turn).to.deep.include({ decidedBy: 'agent', voted: true })
    const at = h.server.requests.map(r => r.at)
    expect(at).to.have.length(5)
    expect(at[1]! - at[0]!).to.be.at.least(950)
    expect(at[3]! - at[2]!).to.be.at.least(140)
    expect(h.alice.service.villager!.items.wheat).to.equal(5)
    expect(h.logs.filter(l => /model request failed \(429/.test(l))).to.have.length(2)
  })

  it('a hanging answer times out and a dropped connection fails; both are retried', async () => {
    h.server.script({ hang: true }, { drop: true }, toolCall('buy', { item: 'seed', quantity: 1 }), toolCall('produce'))
    h.drive({ requestTimeoutMs: 400 })
    const [turn] = await h.turns(1)
    expect(turn).to.deep.include({ decidedBy: 'agent', voted: true })
    expect(h.server.requests).to.have.length(4)
    expect(h.server.requests[1]!.at - h.server.requests[0]!.at).to.be.at.least(390)
    expect(h.alice.service.villager!.items.wheat).to.equal(5)
    expect(h.logs.some(l => /model request failed \(.*timed out/i.test(l))).to.equal(true)
  })

  it('a model that never answers, or asks to wait past the deadline, cannot stall the town', async () => {
    // morning: every request hangs; the turn's deadline hands the period to the heuristic
    h.server.whenExhausted = { hang: true }
    const started = Date.now()
    h.drive({ requestTimeoutMs: 500, maxNetworkRetries: 20 }, { turnDeadlineMs: 2_000 })
    const [morning] = await h.turns(1)
    expect(Date.now() - started).to.be.below(8_000)
    expect(morning).to.deep.include({ period: 'morning', decidedBy: 'fallback', voted: true })
    // the deadline governs either way: it fires during a request or a wait, or (on a slow
    // machine, when a request timed out late) the agent sees that a retry would pass it
    expect(morning!.agentError).to.match(/ran out of time|would pass the turn's deadline/)
    expect(h.server.requests.length).to.be.within(2, 6)
    await waitFor(() => h.aliceVote() === 'produce', 10_000, 'alice\'s vote')
    // noon: a Retry-After longer than the turn's deadline is not waited out
    h.server.whenExhausted = { status: 429, headers: { 'retry-after': '3600' } }
    const before = h.server.requests.length
    await h.bob.service.act('idle')
    const [, noon] = await h.turns(2)
    expect(noon).to.deep.include({ period: 'noon', decidedBy: 'fallback', voted: true })
    expect(noon!.agentError).to.match(/would pass the turn's deadline/)
    expect(h.server.requests.length - before).to.equal(1)
  })

  it('answers a trade as it arrives after the villager has acted, with only trade tools on offer', async () => {
    h.server.script(toolCall('buy', { item: 'seed', quantity: 1 }), toolCall('produce'))
    h.drive()
    await h.turns(1)
    // bob offers to buy 3 of alice's new wheat; alice's model accepts it by id
    h.server.script(
      (req) => {
        const id = /"id":"([A-Za-z0-9_-]+)","role":"counterparty","status":"received"/.exec(req.messages[1].content)?.[1]
        return { content: 'A fair price for my wheat.', toolCalls: [{ name: 'accept_trade', arguments: { trade_id: id } }] }
      },
      toolCall('end_turn', { summary: 'sold wheat to bob' })
    )
    const trade = await h.bob.trades.propose({ target: 'alice', side: 'buy', item: 'wheat', quantity: 3, unitPrice: 5 })
    const [, answer] = await h.turns(2)
    expect(answer).to.deep.include({ reason: 'trades', decidedBy: 'none' })
    expect(answer!.results.map(r => `${r.action.type}:${r.ok}`)).to.deep.equal(['accept_trade:true'])
    const asked = h.server.requests.at(-2)!
    expect(asked.tools).to.not.include.members(['produce'])
    expect(asked.tools).to.include('accept_trade')
    await waitFor(() => h.bob.trades.find(trade.id).status === 'accepted', 10_000, 'bob sees the accept')
    expect((await h.bob.trades.confirm(trade.id)).status).to.equal('committed')
    await waitFor(() => h.alice.service.villager!.items.wheat === 2, 10_000, 'alice hands over the wheat')
    expect(h.alice.service.villager!.coins).to.equal(97 + 15)
  })
})

describe('openai agent tool validation (pure)', () => {
  it('offers JSON Schemas made from the zod schemas, and checks calls against them', () => {
    const defs = toolDefinitions(toolsFor('period'))
    const buy = defs.find(d => d.function.name === 'buy')!
    expect(buy.function.parameters).to.deep.include({ type: 'object', required: ['item', 'quantity'] })
    expect(toolsFor('trades')).to.not.include('produce')
    const call = (name: string, args: string) => ({ id: 'c1', type: 'function' as const, function: { name, arguments: args } })
    expect(parseToolCall(call('buy', '{"item":"seed","quantity":2}'), toolsFor('period'))).to.deep.equal({ ok: true, call: { kind: 'action', action: { type: 'buy', item: 'seed', quantity: 2 } } })
    expect(parseToolCall(call('eat', ''), toolsFor('period'))).to.deep.equal({ ok: true, call: { kind: 'action', action: { type: 'eat', quantity: 1 } } })
    expect(parseToolCall(call('produce', '{}'), toolsFor('trades'))).to.deep.include({ ok: false })
    expect((parseToolCall(call('produce', '{}'), toolsFor('trades')) as any).error).to.match(/already taken this period's action/)
    expect((parseToolCall(call('buy', '{"item":"seed","quantity":"2"}'), toolsFor('period')) as any).error).to.match(/quantity: Invalid input: expected number/)
  })

  it('reads Retry-After in seconds, as a date, and retry-after-ms', () => {
    expect(retryAfterMs(new Headers({ 'retry-after': '2' }))).to.equal(2000)
    expect(retryAfterMs(new Headers({ 'retry-after-ms': '120' }))).to.equal(120)
    expect(retryAfterMs(new Headers({ 'retry-after': new Date(10_000).toUTCString() }), 7_000)).to.equal(3000)
    expect(retryAfterMs(new Headers({}))).to.equal(undefined)
  })
})
