import { expect } from 'chai'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { runCli } from './helpers/cli.js'
import { PeerPool } from './helpers/peers.js'

const examples = path.join(import.meta.dirname, '..', 'examples')

describe('meshtown room (CLI)', function () {
  this.timeout(90_000)
  const pool = new PeerPool()
  after(async () => { await pool.cleanup() })

  it('room run plays the debate to the end, prints it, and room transcript reads an agent\'s copy back', async () => {
    const dir = await pool.dir()
    const run = await runCli(['room', 'run', path.join(examples, 'debate.yaml'), '--seed', 'cli', '--data-dir', dir, '--log-level', 'warn'], {}, 60_000)
    expect(run.exitCode, run.stderr).to.equal(0)
    const roomId = run.stdout.match(/^room ([A-Za-z0-9]{16}):/)?.[1]
    expect(roomId).to.be.a('string')
    expect(run.stdout).to.match(/^\[t0\] Chair -> Pro_Ada, Con_Ben, Pro_Cy, Con_Dot \(public_ask\): \[floor opening/m)
    expect(run.stdout).to.match(/^result: (pro|con) wins \(declared by Chair, after \d+ public messages\)$/m)
    expect(run.stdout).to.match(/^all 6 agents hold the same public transcript/m)

    const judge = await runCli(['room', 'transcript', roomId!, '--data-dir', path.join(dir, 'Judge')])
    expect(judge.exitCode, judge.stderr).to.equal(0)
    expect(judge.stdout).to.match(/^# Judge in room /)
    expect(judge.stdout).to.include('[verdict-call]')
    expect(judge.stdout).to.match(/^result: (pro|con) wins/m)
    // the printed transcript is the one every agent saved
    const fromRun = run.stdout.split('\n').filter(l => l.startsWith('[t'))
    const fromJudge = judge.stdout.split('\n').filter(l => l.startsWith('[t'))
    expect(fromJudge).to.deep.equal(fromRun)
  })

  it('refuses an llm seat without an endpoint (OPENAI_BASE_URL), and bad room files, with exit code 2', async () => {
    const dir = await pool.dir()
    const text = await readFile(path.join(examples, 'debate.yaml'), 'utf8')
    const llm = path.join(dir, 'llm.yaml')
    await writeFile(llm, text.replace('    kind: heuristic\n    heuristic: debate-judge', '    kind: llm'))
    const refused = await runCli(['room', 'run', llm, '--data-dir', dir], { OPENAI_BASE_URL: undefined, OPENAI_API_KEY: undefined })
    expect(refused.exitCode).to.equal(2)
    expect(refused.stderr).to.match(/agent Judge is kind: llm and needs an OpenAI-compatible endpoint, and OPENAI_BASE_URL is not set/)
    const bad = path.join(dir, 'bad.yaml')
    await writeFile(bad, text.replace('mode: ordered', 'mode: sideways'))
    const invalid = await runCli(['room', 'run', bad, '--data-dir', dir])
    expect(invalid.exitCode).to.equal(2)
    expect(invalid.stderr).to.match(/bad\.yaml:\d+:\d+: mode: expected one of rounds \| ordered \| concurrent/)
  })
})
