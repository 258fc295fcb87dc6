import { expect } from 'chai'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import path from 'node:path'
import { CliProcess, MESHTOWN_BIN } from './helpers/cli.js'
import { PeerPool, waitFor } from './helpers/peers.js'

// `meshtown attach` driven as an OS process (stdin a pipe, and once under a
// pseudo-terminal) against a real town: a bootstrap peer, the merchant and two
// villagers, each its own `meshtown` process. The tests run in order as one
// story of the town's first day: alice is created in the first, trades in the
// second, and is stopped and restarted in the last.

const TOWN = 'repltown'

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  const { port } = server.address() as { port: number }
  await new Promise(resolve => server.close(resolve))
  return port
}

async function api (port: number, method: string, route: string): Promise<{ status: number, json: any }> {
  const res = await fetch(`http://127.0.0.1:${port}${route}`, { method })
  return { status: res.status, json: await res.json() }
}

/** Output printed after `since` (a length of stdout): for things a session prints more than once. */
async function outputAfter (p: { stdout: string, running: boolean }, since: number, pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
  let match: RegExpMatchArray | null = null
  await waitFor(() => {
    match = p.stdout.slice(since).match(pattern)
    if (match == null && !p.running) throw new Error(`process exited before printing ${pattern}:\n${p.stdout.slice(since)}`)
    return match != null
  }, timeoutMs, () => `${pattern} in:\n${p.stdout.slice(since)}`)
  return match!
}

/** Type one line into a session and wait for what it answers. */
async function run (session: CliProcess, line: string, answer: RegExp, timeoutMs?: number): Promise<RegExpMatchArray> {
  const since = session.stdout.length
  session.child.stdin!.write(line + '\n')
  return outputAfter(session, since, answer, timeoutMs)
}

describe('meshtown attach: the villager REPL (real processes)', function () {
  this.timeout(120_000)
  const pool = new PeerPool()
  /** The town: lives for the whole describe. */
  const townProcs: CliProcess[] = []
  /** REPL sessions: each test's own, stopped after it. */
  const sessions: Array<{ kill: () => void, exited: Promise<void> }> = []
  let root: string
  let bootAddr: string
  let alicePort: number
  let bobPort: number

  const startTown = (args: string[]): CliProcess => { const p = new CliProcess(args); townProcs.push(p); return p }
  const attach = (port: number): CliProcess => { const p = new CliProcess(['attach', '--api-port', String(port)]); sessions.push(p); return p }
  const villager = async (name: string, port: number, ...args: string[]): Promise<CliProcess> => {
    const p = startTown(['villager', '--town', TOWN, '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', bootAddr, '--data-dir', path.join(root, name), '--api-port', String(port), ...args])
    await p.waitForOutput(/control API: http:\/\/127\.0\.0\.1:\d+/)
    return p
  }

  before(async function () {
    this.timeout(60_000)
    root = await pool.dir()
    const boot = startTown(['bootstrap', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', path.join(root, 'boot'), '--addrs-file', path.join(root, 'addrs')])
    ;[bootAddr] = await boot.waitForOutput(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+$/m) as unknown as [string]
    const merchant = startTown(['merchant', '--town', TOWN, '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', bootAddr, '--data-dir', path.join(root, 'merchant')])
    await merchant.waitForOutput(/Prices/)
    alicePort = await freePort()
    bobPort = await freePort()
    // alice has no villager yet: the REPL's `create` makes her; bob is made from flags
    await villager('alice', alicePort)
    await villager('bob', bobPort, '--name', 'bob', '--occupation', 'chef')
  })

  afterEach(async () => {
    await Promise.all(sessions.splice(0).map(async s => { s.kill(); await s.exited }))
  })

  after(async () => {
    await Promise.all(townProcs.splice(0).map(async p => { p.kill(); await p.exited }))
    await pool.cleanup()
  })

  it('creates a villager through its prompts, buys, produces, and shows who is awaited without being asked', async () => {
    const alice = attach(alicePort)
    await alice.waitForOutput(/connected to a peer with no villager yet in repltown/)
    // one answer per prompt; a bad answer is refused on the spot and asked again
    let since = alice.stdout.length
    alice.child.stdin!.write(['create', 'bad name!', 'alice', 'wizard', 'farmer', '', 'hardworking'].join('\n') + '\n')
    await outputAfter(alice, since, /a name is 1 to 32 letters, digits, _ or - \(no spaces\); try again/)
    await outputAfter(alice, since, /the occupation is one of farmer, chef, carpenter; try again/)
    await outputAfter(alice, since, /created alice the farmer/)
    await run(alice, 'create', /this peer is already alice the farmer/)

    // setting: both are members and the merchant is reachable before anyone acts
    await waitFor(async () => (await api(alicePort, 'GET', '/status')).json.members?.length === 2 && (await api(bobPort, 'GET', '/status')).json.members?.length === 2, 30_000, 'both members')
    await waitFor(async () => (await api(alicePort, 'GET', '/prices')).status === 200, 30_000, 'merchant reachable')

    await run(alice, 'info', /alice the farmer \(unspecified, "hardworking"\)\n\s+stamina\s+100\/100\n\s+coins\s+100\n\s+items\s+nothing\n\s+time\s+day 1 morning, to act/)
    await run(alice, 'p', /seed\s+3\s+-/)
    await run(alice, 'buy seed 10', /bought 10 seed at 3 each: -30 coins \(now stamina 100, coins 70\)/)
    since = alice.stdout.length
    await run(alice, 'work', /produced 5 wheat from 1 seed: -20 stamina/)
    // nobody asked: the session says who the town is waiting for once alice has acted
    await outputAfter(alice, since, /\* waiting for bob\n/)
    const [, members] = await run(alice, 'status', /villager\s+occupation\s+this period\n([\s\S]*?)\nwaiting for bob\n/)
    expect(members).to.match(/bob\s+chef\s+awaited/).and.match(/alice \(you\)\s+farmer\s+acted \(produce\)/)
    await run(alice, 'produce', /error: already acted in day 1 morning; waiting for bob/)
    await run(alice, 'time', /repltown: day 1 morning\nyou have acted this period; waiting for bob/)

    alice.child.stdin!.write('quit\n')
    expect(await alice.waitForExit()).to.equal(0)
  })

  it('trades between two attach sessions, showing requests, state changes, messages and time as they arrive', async () => {
    const alice = attach(alicePort)
    const bob = attach(bobPort)
    await alice.waitForOutput(/connected to alice@repltown/)
    await bob.waitForOutput(/connected to bob@repltown/)

    let bobSince = bob.stdout.length
    const [, id] = await run(alice, 'trade bob sell wheat 2 5', /proposed trade (\S+): you sell 2 wheat to bob at 5 each \(10 coins\): proposed; waiting for bob to accept/)
    await outputAfter(bob, bobSince, new RegExp(`\\* trade request from alice: trade ${id}: you buy 2 wheat from alice at 5 each \\(10 coins\\): received; accept ${id} or reject ${id}`))
    await run(bob, 'trades', new RegExp(`id\\s+with\\s+side\\s+item\\s+qty\\s+price\\s+status\\n${id}\\s+alice\\s+buy\\s+wheat\\s+2\\s+5\\s+received`))

    let aliceSince = alice.stdout.length
    await run(bob, `accept ${id}`, new RegExp(`trade ${id}: .*: accepted; waiting for alice to confirm`))
    await outputAfter(alice, aliceSince, new RegExp(`\\* trade ${id}: you sell 2 wheat to bob .*: accepted; confirm ${id} to complete it`))

    bobSince = bob.stdout.length
    await run(alice, `confirm ${id}`, new RegExp(`trade ${id}: .*: (committed|confirming)`))
    await outputAfter(bob, bobSince, new RegExp(`\\* trade ${id}: you buy 2 wheat from alice at 5 each \\(10 coins\\): committed`))
    await run(alice, 'mytrades', new RegExp(`${id}\\s+bob\\s+sell\\s+wheat\\s+2\\s+5\\s+committed`))
    await run(bob, 'mytrades', /you have proposed no trades yet/)
    await run(bob, 'i', /coins\s+90\n\s+items\s+wheat 2/)
    // the change was printed once, as the command's answer, not again by the poller
    expect(alice.stdout.match(new RegExp(`trade ${id}: .*: committed`, 'g'))?.length ?? 0).to.be.at.most(1)

    aliceSince = alice.stdout.length
    await run(bob, 'send alice bread  by noon, promise', /sent to alice/)
    await outputAfter(alice, aliceSince, /\* \d\d:\d\d:\d\d message from bob: bread {2}by noon, promise/)
    // gossip needs a mesh: say it again until it gets through, as a person would
    let lastSent = 0
    await waitFor(() => {
      if (/broadcast from bob: market at noon/.test(alice.stdout.slice(aliceSince))) return true
      if (Date.now() - lastSent > 1_500) { lastSent = Date.now(); bob.child.stdin!.write('broadcast market at noon\n') }
      return false
    }, 20_000, 'the broadcast reaches alice')
    await run(alice, 'messages', /message from bob: bread {2}by noon, promise\n.*broadcast from bob: market at noon/)

    // bob is the last to act in the morning: both sessions see time move on
    aliceSince = alice.stdout.length
    await run(bob, 'idle', /-- time advances: day 1 morning -> day 1 noon --/)
    await outputAfter(alice, aliceSince, /-- time advances: day 1 morning -> day 1 noon --/)

    // input ends: the session ends too, cleanly
    alice.child.stdin!.end()
    expect(await alice.waitForExit()).to.equal(0)
  })

  it('says the right usage, suggests the closest command and prints the villager\'s refusals', async () => {
    const bob = attach(bobPort)
    bob.child.stdin!.end([
      'buy', 'buy seed', 'buy sed 2', 'buy seed lots', 'eat 0', 'trade alice give wheat 1 1', 'trade alice buy wheat 1',
      'accept', 'send alice', 'broadcast', 'info now', 'prodce', 'hlep', 'mytrade', 'frobnicate', 'help trade',
      'sell house 1', 'trade nobody buy wheat 1 1', 'confirm nosuchid', 'eat'
    ].join('\n') + '\n')
    expect(await bob.waitForExit()).to.equal(0)
    const expected = [
      /missing 2 arguments\nusage: buy ITEM QTY/,
      /missing an argument\nusage: buy ITEM QTY/,
      /unknown item "sed": did you mean seed\? \(items: seed, wheat, bread, wood, house, temp_room\)\nusage: buy ITEM QTY/,
      /QTY must be a whole number from 1 to 1000, got "lots"\nusage: buy ITEM QTY/,
      /QTY must be a whole number from 1 to 1000, got "0"\nusage: eat \[N\]/,
      /the second word must be buy or sell, got "give"\nusage: trade NAME buy\|sell ITEM QTY PRICE/,
      /missing an argument\nusage: trade NAME buy\|sell ITEM QTY PRICE/,
      /missing an argument\nusage: accept ID/,
      /missing the message\nusage: send NAME MESSAGE\.\.\./,
      /missing the message\nusage: broadcast MESSAGE\.\.\./,
      /takes no arguments\nusage: info/,
      /unknown command "prodce": did you mean produce\?/,
      /unknown command "hlep": did you mean help\?/,
      /unknown command "mytrade": did you mean mytrades\?/,
      /unknown command "frobnicate" \(type help for the commands\)/,
      /usage: trade NAME buy\|sell ITEM QTY PRICE\npropose a trade/,
      // the villager's own words, not a generic failure
      /error: .*house/,
      /error: no villager named "nobody" in repltown/,
      /error: no trade with id nosuchid/,
      /error: .*bread/
    ]
    let at = 0
    for (const pattern of expected) {
      const m = bob.stdout.slice(at).match(pattern)
      expect(m, `${pattern} after:\n${bob.stdout.slice(at)}`).to.not.equal(null)
      at += m!.index! + m![0].length
    }
    expect(bob.stderr).to.equal('')
  })

  it('runs under a pseudo-terminal: a prompt with the time, and news printed above it', async function () {
    try {
      execFileSync('script', ['--version'], { stdio: 'ignore' })
    } catch {
      this.skip() // no util-linux `script` here: the pipe tests still cover every command
    }
    const pty = new PtySession(['attach', '--api-port', String(bobPort)])
    sessions.push(pty)
    const [, period] = await pty.waitFor(/bob@repltown \[day 1 (\w+), to act\] > /)
    let since = pty.stdout.length
    pty.type('prodce\r')
    await pty.waitFor(/did you mean produce\?/, since)
    since = pty.stdout.length
    pty.type('idle\r')
    await pty.waitFor(/idled this period/, since)
    await pty.waitFor(new RegExp(`bob@repltown \\[day 1 ${period!}, acted\\] > `), since)
    // alice acts elsewhere: the time line appears unasked, and the prompt follows it
    since = pty.stdout.length
    expect((await api(alicePort, 'POST', '/action/idle')).status).to.equal(200)
    await pty.waitFor(new RegExp(`-- time advances: day 1 ${period!} -> day 1 \\w+ --`), since)
    await pty.waitFor(/bob@repltown \[day 1 \w+, to act\] > $/, since)
    pty.type('quit\r')
    expect(await pty.waitForExit()).to.equal(0)
  })

  it('reports a stopped villager once, keeps retrying, and carries on when it is back', async () => {
    const alice = attach(alicePort)
    await alice.waitForOutput(/connected to alice@repltown/)
    const aliceVillager = townProcs.find(p => p.stdout.includes(`control API: http://127.0.0.1:${alicePort}`) && p.running)!
    expect(await aliceVillager.interrupt()).to.equal(0)
    const notAnswering = new RegExp(`villager at http://127\\.0\\.0\\.1:${alicePort} is not answering; retrying\\.\\.\\.`, 'g')
    await alice.waitForOutput(notAnswering)
    await run(alice, 'info', new RegExp(`error: villager at http://127\\.0\\.0\\.1:${alicePort} is not answering \\(ECONNREFUSED\\); retrying in the background`))

    await villager('alice', alicePort)
    await alice.waitForOutput(new RegExp(`\\* villager at http://127\\.0\\.0\\.1:${alicePort} is back: alice@repltown`), 30_000)
    await run(alice, 'info', /alice the farmer/)
    expect(alice.stdout.match(notAnswering)).to.have.length(1)
    expect(alice.running).to.equal(true)
  })
})

/**
 * `meshtown` under a pseudo-terminal made by util-linux `script`, so stdin and
 * stdout are TTYs and the REPL runs interactive (readline, prompt, redraws).
 */
class PtySession {
  readonly child: ChildProcess
  /** What the terminal showed, escape sequences and carriage returns removed. */
  stdout = ''
  exitCode: number | null = null
  readonly exited: Promise<void>

  constructor (args: string[]) {
    const command = [process.execPath, MESHTOWN_BIN, ...args].map(a => `'${a.replace(/'/g, "'\\''")}'`).join(' ')
    this.child = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...process.env, TERM: 'xterm', MESHTOWN_BOOTSTRAP: undefined }, stdio: ['pipe', 'pipe', 'pipe'] })
    this.child.stdout!.on('data', (d) => { this.stdout += String(d).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '') })
    this.exited = new Promise(resolve => { this.child.on('exit', (code) => { this.exitCode = code; resolve() }) })
  }

  get running (): boolean {
    return this.exitCode === null && this.child.signalCode === null
  }

  type (keys: string): void {
    this.child.stdin!.write(keys)
  }

  async waitFor (pattern: RegExp, since = 0, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    return outputAfter(this, since, pattern, timeoutMs)
  }

  async waitForExit (timeoutMs = 20_000): Promise<number | null> {
    await waitFor(() => !this.running, timeoutMs, 'the pty session to exit')
    return this.exitCode
  }

  /** script hangs up the terminal when it goes, which ends the meshtown under it too. */
  kill (): void {
    if (this.running) this.child.kill('SIGTERM')
  }
}
