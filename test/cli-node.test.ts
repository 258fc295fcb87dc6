import { expect } from 'chai'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { childPidsOf, CliProcess, meshtownNodeFlagsOf, runCli } from './helpers/cli.js'
import { PeerPool, waitFor } from './helpers/peers.js'
import { EARLY_TIER_UP_FLAGS, MANY_PEERS_NODE_FLAGS, missingNodeFlags, NODE_FLAGS, nodeFlagsFor } from '../scripts/node-flags.mjs'

describe('meshtown bootstrap / peer commands (real processes)', function () {
  const pool = new PeerPool()
  const procs: CliProcess[] = []
  const start = (args: string[], env = {}): CliProcess => { const p = new CliProcess(args, env); procs.push(p); return p }
  const strays: number[] = []
  afterEach(async () => {
    for (const pid of strays.splice(0)) { try { process.kill(pid, 'SIGKILL') } catch {} }
    await Promise.all(procs.splice(0).map(async p => { p.kill(); await p.exited }))
    await pool.cleanup()
  })

  it('bootstrap prints its PeerId and full multiaddrs, writes them to a file, and peers find each other from it', async () => {
    const dir = await pool.dir()
    const addrsFile = path.join(dir, 'addrs.txt')
    const boot = start(['bootstrap', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', path.join(dir, 'boot'), '--addrs-file', addrsFile])
    const [, peerId] = await boot.waitForOutput(/PeerId: (\S+)\n/)
    const [addr] = await boot.waitForOutput(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+$/m)
    expect(addr).to.contain(`/p2p/${peerId}`)
    await boot.waitForOutput(/addresses written/, 10_000, 'stderr')
    expect((await readFile(addrsFile, 'utf8')).trim().split('\n')).to.include(addr)

    const a = start(['peer', '--town', 'clitown', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', path.join(dir, 'a'), '--bootstrap-file', addrsFile])
    const b = start(['peer', '--town', 'clitown', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', path.join(dir, 'b')], { MESHTOWN_BOOTSTRAP: addr })
    const [, idA] = await a.waitForOutput(/PeerId: (\S+)\n/)
    const [, idB] = await b.waitForOutput(/PeerId: (\S+)\n/)
    await a.waitForOutput(new RegExp(`found ${idB}`), 30_000)
    await b.waitForOutput(new RegExp(`found ${idA}`), 30_000)

    // a second peer on a's data dir is refused with exit code 3 while a runs
    const locked = await runCli(['peer', '--town', 'clitown', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', path.join(dir, 'a'), '--bootstrap', addr])
    expect(locked.exitCode).to.equal(3)
    expect(locked.stderr).to.match(/^meshtown: error: data dir .* is in use by another running peer/m)
    expect(locked.stderr).to.not.match(/\n\s+at /)

    // SIGINT stops gracefully with exit 0
    expect(await a.interrupt()).to.equal(0)
    expect(await b.interrupt()).to.equal(0)
    expect(await boot.interrupt()).to.equal(0)

    // restart keeps the bootstrap PeerId
    const again = start(['bootstrap', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', path.join(dir, 'boot'), '--addrs-file', addrsFile])
    await again.waitForOutput(new RegExp(`PeerId: ${peerId}\n`))
  })

  it('reports bad input with one line and a telling exit code', async () => {
    const dir = await pool.dir()
    const cases: Array<[string[], number, RegExp]> = [
      [['peer', '--town', 't', '--bootstrap', 'not-a-multiaddr', '--data-dir', dir], 2, /invalid bootstrap address "not-a-multiaddr"/],
      [['peer', '--town', 't', '--bootstrap', '/ip4/127.0.0.1/tcp/1', '--data-dir', dir], 2, /has no \/p2p\/<PeerId> part/],
      [['peer', '--town', 'bad town!', '--bootstrap', '/ip4/127.0.0.1/tcp/1', '--data-dir', dir], 2, /invalid town name "bad town!"/],
      [['bootstrap', '--listen', '/ip4/1.2.3/tcp/0', '--data-dir', dir], 2, /invalid listen address/],
      [['peer', '--town', 't', '--data-dir', dir, '--bootstrap-file', path.join(dir, 'missing.txt')], 2, /cannot read bootstrap file/],
      [['peer', '--town', 't', '--bootstrap-retries', '-1'], 2, /bootstrap-retries/],
      [['peer'], 2, /required option '--town <name>'/],
      [['nonsense'], 2, /unknown command 'nonsense'/]
    ]
    for (const [args, code, pattern] of cases) {
      const p = await runCli(args)
      expect(p.exitCode, `${args.join(' ')}: ${p.stderr}`).to.equal(code)
      expect(p.stderr, args.join(' ')).to.match(pattern)
      expect(p.stderr, 'no stack trace').to.not.match(/\n\s+at /)
    }
  })

  it('warns and retries with back-off for an unreachable bootstrap, then exits 5', async () => {
    const dir = await pool.dir()
    // a real PeerId whose peer is not running: dials are refused
    const ghost = await pool.create()
    const addr = ghost.addresses()[0]!
    await pool.stop(ghost)
    const p = await runCli(['peer', '--town', 't', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', path.join(dir, 'p'), '--bootstrap', addr, '--bootstrap-retries', '2'])
    expect(p.exitCode).to.equal(5)
    expect(p.stderr.match(/bootstrap unreachable \(attempt \d\/3, next in \d+ ms\)/g)).to.have.length(2)
    expect(p.stderr).to.match(/meshtown: error: no bootstrap peer answered after 3 attempts/)
  })

  it('logs JSON lines with --log-format json', async () => {
    const dir = await pool.dir()
    const ghost = await pool.create()
    const addr = ghost.addresses()[0]!
    await pool.stop(ghost)
    const p = await runCli(['peer', '--town', 't', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', path.join(dir, 'p'), '--bootstrap', addr, '--bootstrap-retries', '1', '--log-format', 'json'])
    const logLines = p.stderr.trim().split('\n').filter(l => !l.startsWith('meshtown: '))
    expect(logLines).to.have.length.greaterThan(0)
    for (const line of logLines) {
      const entry = JSON.parse(line)
      expect(entry).to.include.keys('level', 'time', 'msg')
    }
    expect(logLines.map(l => JSON.parse(l).msg).join('\n')).to.match(/bootstrap unreachable/)
  })

  it('reports an unreadable key with exit 4', async () => {
    const dir = await pool.dir()
    const first = await pool.create({ dataDir: dir })
    await pool.stop(first)
    const p = await runCli(['bootstrap', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', dir, '--addrs-file', path.join(dir, 'a.txt')], { MESHTOWN_KEY_PASS: 'not-the-pass-it-was-made-with' })
    expect(p.exitCode).to.equal(4)
    expect(p.stderr).to.match(/meshtown: error: the peer key in .* cannot be read/)
  })

  it('runs with meshtown\'s node flags in the very process it was started as; a flag set in NODE_OPTIONS wins', async function () {
    if (!existsSync('/proc/self/cmdline')) this.skip()
    const dir = await pool.dir()
    const nodeArgs = async (p: CliProcess): Promise<string[]> => {
      await p.waitForOutput(/PeerId: (\S+)\n/)
      // the pid the caller spawned is node itself, now with the flags (re-executed in place, not a child)
      return meshtownNodeFlagsOf(p.child.pid!)
    }
    const plain = start(['bootstrap', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', path.join(dir, 'a'), '--addrs-file', path.join(dir, 'a.txt')])
    // one peer per process: not the early tier-up of a room's process, which costs every start
    expect(await nodeArgs(plain)).to.deep.equal(NODE_FLAGS.filter(f => f.startsWith('--max-semi')))
    const own = start(['bootstrap', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', path.join(dir, 'b'), '--addrs-file', path.join(dir, 'b.txt')], { NODE_OPTIONS: '--max_semi_space_size=16' })
    expect(await nodeArgs(own)).to.deep.equal([])
  })

  it('started by a Node older than 22, runs on the bundled Node with the user\'s own node flags, which win over meshtown\'s', async function () {
    // the system Node of this machine is older; elsewhere there may be none to try
    const old = ['/usr/bin/node', '/usr/local/bin/node'].find(n => {
      if (!existsSync(n)) return false
      const r = spawnSync(n, ['-p', 'process.versions.node'], { encoding: 'utf8' })
      return r.status === 0 && Number(r.stdout.split('.')[0]) < 22
    })
    if (old == null || !existsSync('/proc/self/cmdline')) this.skip()
    const dir = await pool.dir()
    const p = new CliProcess(['bootstrap', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', path.join(dir, 'a'), '--addrs-file', path.join(dir, 'a.txt')], {},
      { node: old, nodeArgs: ['--max-semi-space-size=8', '--stack-trace-limit=25'] })
    procs.push(p)
    await p.waitForOutput(/PeerId: (\S+)\n/)
    const [child] = await childPidsOf(p.child.pid!)
    expect(child, 'the bundled Node runs as a child').to.be.a('number')
    strays.push(child!)
    const cmdline = (await readFile(`/proc/${child!}/cmdline`, 'utf8')).split('\0')
    expect(cmdline[0]).to.equal(path.resolve('node_modules', 'node', 'bin', 'node'))
    expect(cmdline).to.include('--stack-trace-limit=25')
    expect(await meshtownNodeFlagsOf(child!)).to.deep.equal(['--max-semi-space-size=8'])
    // a stop signal to the command the user started reaches the peer
    p.child.kill('SIGTERM')
    await p.waitForExit()
    await waitFor(() => !existsSync(`/proc/${child!}`), 10_000, 'the bundled Node to exit')
  })

  it('keeps V8\'s compiled code of the CLI in node\'s compile cache, in the temp dir', async () => {
    const tmp = await pool.dir()
    const p = await runCli(['--help'], { TMPDIR: tmp })
    expect(p.exitCode).to.equal(0)
    expect(readdirSync(path.join(tmp, 'node-compile-cache'), { recursive: true }).length).to.be.greaterThan(0)
  })

  it('adds only the node flags that neither node\'s arguments nor NODE_OPTIONS set', () => {
    expect(missingNodeFlags([], '')).to.deep.equal(NODE_FLAGS)
    expect(missingNodeFlags(['--max-semi-space-size=8'], '')).to.deep.equal(NODE_FLAGS.filter(f => !f.startsWith('--max-semi-space-size')))
    expect(missingNodeFlags([], '--enable-source-maps  --max_semi_space_size=1')).to.deep.equal(NODE_FLAGS.filter(f => !f.startsWith('--max-semi-space-size')))
    expect(missingNodeFlags(['--enable-source-maps'], '--inspect')).to.deep.equal(NODE_FLAGS)
    expect(missingNodeFlags([], '--max-semi-space-size=8', MANY_PEERS_NODE_FLAGS)).to.deep.equal(EARLY_TIER_UP_FLAGS)
    expect(missingNodeFlags(['--invocation-count-for-turbofan=3000'], '--max-semi-space-size=8', MANY_PEERS_NODE_FLAGS)).to.deep.equal(['--invocation-count-for-maglev=40'])
  })

  it('gives a process of many peers (room run) a larger young generation than one peer\'s, and the early tier-up', () => {
    expect(nodeFlagsFor(['room', 'run', 'werewolf.yaml'])).to.deep.equal(MANY_PEERS_NODE_FLAGS)
    for (const args of [['villager', '--name', 'ann'], ['room', 'join', 'AbCdEfGhIjKlMnOp'], ['bootstrap'], [], ['run', 'room']]) {
      expect(nodeFlagsFor(args), args.join(' ')).to.deep.equal(NODE_FLAGS)
    }
    expect(MANY_PEERS_NODE_FLAGS).to.not.deep.equal(NODE_FLAGS)
    expect(MANY_PEERS_NODE_FLAGS).to.include.members(EARLY_TIER_UP_FLAGS)
    expect(NODE_FLAGS.filter(f => EARLY_TIER_UP_FLAGS.includes(f))).to.deep.equal([])
  })
})
