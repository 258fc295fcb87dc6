import { expect } from 'chai'
import { spawn } from 'node:child_process'
import { waitFor } from './helpers/peers.js'

/** The README's main job: `npm run demo` must run a town and stop by itself, leaving nothing behind. */
describe('npm run demo (real processes)', function () {
  this.timeout(240_000)

  it('runs a town of agents and a werewolf room for a day, summarises, and stops every peer', async () => {
    const child = spawn('npx', ['tsx', 'scripts/demo.ts', '--days', '1'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OPENAI_BASE_URL: undefined } })
    let out = ''
    child.stdout.on('data', d => { out += String(d) })
    child.stderr.on('data', d => { out += String(d) })
    const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
    try {
      await waitFor(() => child.exitCode != null, 200_000, () => `the demo to finish by itself; output so far:\n${out}`, 200)
    } finally {
      if (child.exitCode == null) child.kill('SIGINT')
    }
    expect(await exited, out).to.equal(0)
    expect(out).to.match(/v1\s+farmer\s+control API http:\/\/127\.0\.0\.1:\d+\s+attach: npx meshtown attach --api-port \d+/)
    expect(out).to.match(/v3\s+carpenter/)
    // the agents start once the villagers are one town: the story begins at day 1, and ends when the day is over
    expect(out).to.match(/the 3 villagers are one town at day 1 morning; their agents play from now/)
    expect(out).to.match(/day 1 begins\nday 1 is over: \d+ trades? between villagers committed so far/)
    expect(out).to.match(/summary after 1 day \(the town is now at day 2 \w+\)/)
    expect(out).to.match(/werewolf room: (village|wolves) win/)
    expect(out).to.match(/stopping every peer...\ndone/)
    // no villager, merchant or bootstrap process of the demo is left running
    const { execSync } = await import('node:child_process')
    const left = execSync('ps -eo args').toString().split('\n').filter(l => l.includes('meshtown.js') && l.includes('meshtown-demo-'))
    expect(left).to.deep.equal([])
  })
})
