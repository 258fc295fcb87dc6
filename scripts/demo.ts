/**
 * `npm run demo`: a local town, every peer its own OS process. Today it shows
 * the peer runtime: a bootstrap peer and N town peers that find each other
 * through the DHT. Stops everything on Ctrl-C or after --seconds.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Command, InvalidArgumentError } from 'commander'
import { Supervisor } from './lib/supervisor.js'

function positiveInt (v: string): number {
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer')
  return n
}

const opts = new Command('npm run demo --')
  .option('--peers <n>', 'town peers to start', positiveInt, 4)
  .option('--seconds <n>', 'run this long, then stop and summarise', positiveInt, 20)
  .option('--town <name>', 'town name', 'demotown')
  .option('--verbose', 'show every peer log line')
  .parse(process.argv)
  .opts<{ peers: number, seconds: number, town: string, verbose?: boolean }>()

const dataRoot = await mkdtemp(path.join(tmpdir(), 'meshtown-demo-'))
const supervisor = new Supervisor((name, line, stream) => {
  if (opts.verbose === true || stream === 'stdout' || /WARN|ERROR/.test(line)) console.log(`[${name}] ${line}`)
})
const found = new Map<string, Set<string>>()
try {
  const boot = supervisor.start('bootstrap', ['bootstrap', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', path.join(dataRoot, 'bootstrap'), '--addrs-file', path.join(dataRoot, 'bootstrap.addrs')])
  const [addr] = await boot.waitForLine(/^\/ip4\/127\.0\.0\.1\/.*$/)
  console.log(`bootstrap listening at ${addr}`)
  const ids: string[] = []
  for (let i = 1; i <= opts.peers; i++) {
    const name = `peer${i}`
    const p = supervisor.start(name, ['peer', '--town', opts.town, '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', path.join(dataRoot, name), '--bootstrap', addr])
    const [, id] = await p.waitForLine(/^PeerId: (\S+)/)
    ids.push(id!)
    found.set(name, new Set())
    p.child.stdout!.on('data', (d: Buffer) => {
      for (const m of d.toString().matchAll(/^found (\S+)$/gm)) found.get(name)!.add(m[1]!)
    })
  }
  const deadline = Date.now() + opts.seconds * 1000
  while (Date.now() < deadline) {
    const complete = [...found.values()].every(s => s.size === opts.peers - 1)
    if (complete) break
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  console.log('\nsummary:')
  for (const [name, set] of found) console.log(`  ${name} found ${set.size}/${opts.peers - 1} other town members`)
  const ok = [...found.values()].every(s => s.size === opts.peers - 1)
  console.log(ok ? `every peer found the whole town "${opts.town}" through the DHT` : 'some peers did not find the whole town in time')
  process.exitCode = ok ? 0 : 1
} finally {
  await supervisor.stopAll()
  await rm(dataRoot, { recursive: true, force: true })
}
