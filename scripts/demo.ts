/**
 * `npm run demo`: a whole town on this machine, every peer its own OS process: a
 * bootstrap peer, the merchant, villagers played by agents (heuristic, or openai
 * when OPENAI_BASE_URL is set), and a werewolf room of heuristic agents. It shows
 * the town's progress as it runs and stops everything on Ctrl-C, or by itself
 * after --days days with a summary.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Command } from 'commander'
import { positiveInt } from './lib/args.js'
import { api, LocalTown, until, type LocalVillager } from './lib/local-town.js'
import { ROOT } from './lib/supervisor.js'

const opts = new Command('npm run demo --')
  .option('--villagers <n>', 'villagers (farmer, chef, carpenter, farmer, ...)', positiveInt, 3)
  .option('--days <n>', 'stop after this many days', positiveInt, 3)
  .option('--town <name>', 'town name', 'demotown')
  .option('--no-room', 'do not start the werewolf room')
  .option('--verbose', 'show every peer log line')
  .parse(process.argv)
  .opts<{ villagers: number, days: number, town: string, room: boolean, verbose?: boolean }>()

const agent = process.env.OPENAI_BASE_URL != null ? 'openai' : 'heuristic'
const root = await mkdtemp(path.join(tmpdir(), 'meshtown-demo-'))
const say = (line: string): void => { console.log(line) }
let roomResult: string | undefined

const town = new LocalTown({
  town: opts.town,
  root,
  villagers: opts.villagers,
  // agents are started apart, once the villagers are one town (below)
  villagerArgs: ['--agent', 'none'],
  onLine: (name, line, stream) => {
    if (name === 'room') {
      if (/^result: /.test(line)) roomResult = line.slice('result: '.length)
      // the moderator's public lines tell the story; the rest only with --verbose
      if (opts.verbose === true || (stream === 'stdout' && (/^\[t\d+\] Moderator/.test(line) || /^result: /.test(line)))) say(`[room] ${line.replace(/^\[t\d+\] /, '')}`)
      return
    }
    if (opts.verbose === true || /WARN|ERROR/.test(line)) say(`[${name}] ${line}`)
  }
})

function table (rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map(r => r[i]!.length)))
  return rows.map(r => '  ' + r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n')
}

async function villagerRows (vs: LocalVillager[]): Promise<string[][]> {
  const rows = [['villager', 'occupation', 'stamina', 'coins', 'items']]
  for (const v of vs) {
    try {
      const s = await api(v, 'GET', '/villager')
      const items = Object.entries(s.items as Record<string, number>).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ')
      rows.push([v.name, s.occupation, String(s.stamina), String(s.coins), items || '-'])
    } catch {
      rows.push([v.name, v.occupation, '?', '?', '(not answering)'])
    }
  }
  return rows
}

async function committedTrades (vs: LocalVillager[]): Promise<number> {
  let n = 0
  for (const v of vs) n += (await api(v, 'GET', '/mytrades').catch(() => [])).filter((t: any) => t.status === 'committed').length
  return n
}

let exitCode = 0
try {
  say(`starting a town of ${opts.villagers} villagers (${agent} agents), each its own process...`)
  await town.start()
  say(`\nbootstrap  ${town.bootstrapAddr}`)
  const observer = town.supervisor.start('observer', ['observe', '--town', opts.town, '--bootstrap', town.bootstrapAddr, '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', path.join(root, 'observer'), '--http-port', '0'])
  const [, dashboard] = await observer.waitForLine(/^dashboard: (\S+)/)
  say(`dashboard  ${dashboard}   (open it in a browser: the town, live)`)
  for (const v of town.villagers) {
    say(`${v.name.padEnd(10)} ${v.occupation.padEnd(10)} control API ${v.url}   attach: npx meshtown attach --api-port ${v.port}`)
  }
  if (opts.room) {
    const room = town.supervisor.start('room', ['room', 'run', path.join(ROOT, 'examples', 'werewolf.yaml'), '--data-dir', path.join(root, 'room'), '--log-level', 'warn'])
    void room.exited.then(code => { if (code !== 0 && roomResult == null) say(`[room] exited with code ${code}`) })
    say('werewolf room  9 heuristic agents, each its own peer (public messages of the moderator shown)')
  }
  say('')
  if (!await town.waitForMembers(opts.villagers, 60_000)) throw new Error('the villagers did not form one town within 60 s')
  // A villager alone is a whole town, and time moves when all its members have acted: an
  // agent started with the first villager played days on its own before the others had
  // joined. The agents start once the villagers are one town, each on its villager's API.
  const agents = town.villagers.map(v => town.supervisor.start(`${v.name}-agent`, ['agent', '--api-port', String(v.port), '--agent', agent]))
  const formed = await api(town.villagers[0]!, 'GET', '/time')
  say(`the ${opts.villagers} villagers are one town at day ${formed.day} ${formed.period}; their agents play from now`)
  let lastDay = 0
  const endDay = opts.days + 1
  const reached = await until(async () => {
    const t = await api(town.villagers[0]!, 'GET', '/time')
    if (t.synced === true && t.day > lastDay) {
      lastDay = t.day
      if (t.day > 1) {
        const trades = await committedTrades(town.villagers)
        say(`day ${t.day - 1} is over: ${trades} trade${trades === 1 ? '' : 's'} between villagers committed so far`)
        say(table(await villagerRows(town.villagers)))
      }
      if (t.day < endDay) say(`\nday ${t.day} begins`)
    }
    return lastDay >= endDay
  }, opts.days * 120_000, 250)
  if (!reached) throw new Error(`the town did not finish ${opts.days} days in time`)
  // the agents stop, so that the town rests where the summary finds it
  for (const a of agents) a.child.kill('SIGINT')
  await Promise.all(agents.map(async a => a.exited))
  const now = await api(town.villagers[0]!, 'GET', '/time')
  say(`\nsummary after ${opts.days} day${opts.days === 1 ? '' : 's'} (the town is now at day ${now.day} ${now.period}):`)
  say(table(await villagerRows(town.villagers)))
  say(`  trades between villagers committed: ${await committedTrades(town.villagers)}`)
  if (opts.room) {
    await until(() => roomResult != null, 60_000, 250)
    say(`  werewolf room: ${roomResult ?? 'still playing'}`)
  }
} catch (err: any) {
  say(`demo failed: ${err.message}`)
  exitCode = 1
} finally {
  say('stopping every peer...')
  await town.stop()
  await rm(root, { recursive: true, force: true })
  say('done')
}
process.exitCode = exitCode
