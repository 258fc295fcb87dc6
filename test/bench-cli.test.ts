import { execFile } from 'node:child_process'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { expect } from 'chai'

// npm run bench: a bad number is refused before anything runs or is written
describe('npm run bench: bad options', function () {
  this.timeout(60_000)
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(path.join(tmpdir(), 'meshtown-bench-cli-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  const run = async (args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number, stderr: string }> => new Promise(resolve => {
    // node itself (not npx) so that PATH can be one without perf
    execFile(process.execPath, ['--import', 'tsx', 'scripts/bench/index.ts', ...args, '--out', path.join(dir, 'r.json'), '--md', path.join(dir, 'B.md')], { env: env ?? process.env }, (err, _stdout, stderr) => {
      resolve({ code: err == null ? 0 : (err as any).code ?? -1, stderr })
    })
  })

  for (const [flag, value, expected] of [
    ['--warmup', 'abc', 'a number >= 0'],
    ['--periods', '-3', 'a whole number >= 1'],
    ['--runs', '', 'a whole number >= 1'],
    // 0 runs or periods would write a report with no figures in it
    ['--runs', '0', 'a whole number >= 1'],
    ['--periods', '0', 'a whole number >= 1'],
    ['--periods', '2.5', 'a whole number >= 1'],
    ['--multi', '1', 'a whole number >= 2'],
    ['--room-agents', '1', 'a whole number >= 2'],
    ['--join-think', '-1', 'a whole number >= 0'],
    ['--join-think', '0.5', 'a whole number >= 0'],
    ['--large-evict-after', '-1', 'a whole number >= 0']
  ]) {
    it(`${flag} ${JSON.stringify(value)} is refused`, async () => {
      const r = await run([flag!, value!, '--only', 'barrier'])
      expect(r.code).to.equal(1)
      expect(r.stderr).to.include(`${flag} takes ${expected}, got "${value}"`)
      expect(await readdir(dir)).to.deep.equal([])
    })
  }

  for (const [flag, value, pair] of [['--packed', '10:5,10:1', '10:1'], ['--large', '100', '100'], ['--large', 'x:20', 'x:20']]) {
    it(`${flag} ${JSON.stringify(value)} is refused: not N:K pairs`, async () => {
      const r = await run([flag!, value!, '--only', 'barrier'])
      expect(r.code).to.equal(1)
      expect(r.stderr).to.include(`${flag} takes N:K pairs (a town of N, K peers per process), got "${pair}"`)
      expect(await readdir(dir)).to.deep.equal([])
    })
  }

  for (const [flag, value] of [['--sizes', '5,x'], ['--trade-concurrency', '1,0']]) {
    it(`${flag} ${JSON.stringify(value)} is refused, not read as part of the list`, async () => {
      const r = await run([flag!, value!, '--only', 'barrier'])
      expect(r.code).to.equal(1)
      expect(r.stderr).to.include(`${flag} takes whole numbers > 0, comma-separated, got "${value}"`)
      expect(await readdir(dir)).to.deep.equal([])
    })
  }

  it('--perf where perf cannot record is refused, saying why, before anything runs or is written', async () => {
    const empty = await mkdtemp(path.join(tmpdir(), 'meshtown-no-perf-'))
    try {
      const r = await run(['--perf', '--only', 'barrier', '--sizes', '5'], { ...process.env, PATH: empty })
      expect(r.code).to.equal(1)
      expect(r.stderr).to.include('--perf needs Linux perf recording every CPU: no perf command (apt-get install linux-perf)')
      expect(await readdir(dir)).to.deep.equal([])
    } finally {
      await rm(empty, { recursive: true, force: true })
    }
  })

  it('--perf takes no value', async () => {
    const r = await run(['--perf', 'yes', '--only', 'barrier'])
    expect(r.code).to.equal(1)
    expect(r.stderr).to.include('--perf takes no value, got "yes"')
    expect(await readdir(dir)).to.deep.equal([])
  })
})
