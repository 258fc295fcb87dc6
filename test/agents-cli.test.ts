import { expect } from 'chai'
import path from 'node:path'
import { CliProcess } from './helpers/cli.js'
import { FakeOpenAIServer, toolCall } from './helpers/openai-server.js'
import { PeerPool, waitFor } from './helpers/peers.js'

async function time (apiUrl: string): Promise<any> {
  return (await fetch(`${apiUrl}/time`)).json()
}

describe('meshtown agent (real processes)', function () {
  this.timeout(120_000)
  const pool = new PeerPool()
  const procs: CliProcess[] = []
  const server = new FakeOpenAIServer()
  const start = (args: string[], env: Record<string, string | undefined> = {}): CliProcess => {
    const p = new CliProcess(args, env)
    procs.push(p)
    return p
  }
  const noOpenAI = { OPENAI_API_KEY: undefined, OPENAI_BASE_URL: undefined, OPENAI_MODEL: undefined }
  after(async () => {
    await Promise.all(procs.splice(0).map(async p => { p.kill(); await p.exited }))
    await server.stop()
    await pool.cleanup()
  })

  it('attaches the heuristic, then an openai agent, to a running villager; each plays its periods', async () => {
    const root = await pool.dir()
    const boot = start(['bootstrap', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', path.join(root, 'boot'), '--addrs-file', path.join(root, 'addrs')])
    const [bootAddr] = await boot.waitForOutput(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+$/m)
    const merchant = start(['merchant', '--town', 'agenttown', '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', bootAddr!, '--data-dir', path.join(root, 'merchant')])
    await merchant.waitForOutput(/Prices/)
    const villager = start(['villager', '--town', 'agenttown', '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', bootAddr!, '--data-dir', path.join(root, 'alice'), '--name', 'alice', '--occupation', 'farmer'])
    const [, apiUrl, port] = await villager.waitForOutput(/control API: (http:\/\/127\.0\.0\.1:(\d+))/)
    await waitFor(async () => (await fetch(`${apiUrl!}/prices`)).status === 200, 30_000, 'the merchant reachable')

    // alone in the town, every vote of hers moves time on
    const heuristic = start(['agent', '--api-port', port!, '--agent', 'heuristic', '--seed', '3', '--poll-interval', '50'], noOpenAI)
    await waitFor(async () => (await time(apiUrl!)).day >= 3, 60_000, () => `day 3; agent said:\n${heuristic.stderr}`)
    expect(await heuristic.interrupt()).to.equal(0)
    expect(heuristic.stderr).to.match(/agent heuristic driving the villager at http:\/\/127\.0\.0\.1:\d+/)
    expect(heuristic.stderr).to.match(/day 1 morning: reasoning: buy 1 seed to produce; produce 5 wheat/)
    expect(heuristic.stderr).to.match(/day 1 morning: action produce -> ok \(stamina 80, coins 97, wheat 5\)/)
    expect(heuristic.stderr).to.match(/day 1 evening: action sleep -> ok/)
    const farmer = await (await fetch(`${apiUrl!}/villager`)).json() as any
    expect(farmer.stamina).to.be.greaterThan(0)

    // an openai agent against a local endpoint that always idles
    await server.start()
    server.whenExhausted = { content: 'Resting today.', toolCalls: [{ name: 'idle', arguments: {} }] }
    const before = await time(apiUrl!)
    const openai = start(['agent', '--api-port', port!, '--agent', 'openai', '--model', 'local-model', '--log-format', 'json'], { ...noOpenAI, OPENAI_BASE_URL: server.url })
    await waitFor(async () => { const t = await time(apiUrl!); return t.day > before.day || t.period !== before.period }, 30_000, () => `time to move on; agent said:\n${openai.stderr}`)
    expect(await openai.interrupt()).to.equal(0)
    const lines = openai.stderr.trim().split('\n').map(l => JSON.parse(l))
    expect(lines.map(l => l.msg)).to.include.members(['agent openai:local-model driving the villager at ' + apiUrl!])
    expect(lines.some(l => /reasoning: Resting today\./.test(l.msg))).to.equal(true)
    expect(lines.some(l => /action idle -> ok/.test(l.msg))).to.equal(true)
    expect(server.requests[0]!.body.model).to.equal('local-model')
    await villager.interrupt()
  })

  it('refuses what cannot run with one line and exit code 2', async () => {
    const noEndpoint = start(['agent', '--api-port', '5999', '--agent', 'openai'], noOpenAI)
    expect(await noEndpoint.waitForExit()).to.equal(2)
    expect(noEndpoint.stderr).to.match(/the openai agent needs an endpoint: set OPENAI_API_KEY/)
    const badKind = start(['agent', '--api-port', '5999', '--agent', 'wizard'], noOpenAI)
    expect(await badKind.waitForExit()).to.equal(2)
    expect(badKind.stderr).to.match(/argument 'wizard' is invalid/)
    const noPort = start(['agent'], noOpenAI)
    expect(await noPort.waitForExit()).to.equal(2)
    expect(noPort.stderr).to.match(/--api-port/)
    const noMembers = start(['agent', '--api-port', '5999', '--min-members', '0'], noOpenAI)
    expect(await noMembers.waitForExit()).to.equal(2)
    expect(noMembers.stderr).to.match(/--min-members/)
  })
})
