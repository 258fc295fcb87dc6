/**
 * The dashboard's web server on its own: static files (cytoscape from
 * node_modules), the state as JSON, pushes over server-sent events, and the
 * refusals (wrong Host, writes, unknown pages, a port in use). And the
 * `observe` command's usage errors.
 */
import { request } from 'node:http'
import { expect } from 'chai'
import { PortInUseError, startDashboardServer, type DashboardServer } from '../src/observer/http-server.js'
import { TownModel } from '../src/observer/town-model.js'
import { runCli } from './helpers/cli.js'
import { waitFor } from './helpers/peers.js'

interface Answer { status: number, headers: Record<string, string | string[] | undefined>, body: string }

async function get (port: number, path: string, options: { method?: string, host?: string } = {}): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: { host: options.host ?? `127.0.0.1:${port}` } }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('dashboard: the web server', function () {
  this.timeout(30_000)
  const model = new TownModel('oak')
  let server: DashboardServer
  before(async () => { server = await startDashboardServer(() => model.snapshot(), 0) })
  after(async () => { await server.close() })

  it('serves the page, its script and cytoscape from node_modules, with a strict CSP', async () => {
    const page = await get(server.port, '/')
    expect(page.status).to.equal(200)
    expect(page.headers['content-type']).to.match(/text\/html/)
    expect(page.body).to.include('<script type="module" src="/app.js">')
    expect(page.headers['content-security-policy']).to.include("script-src 'self'").and.not.include('unsafe')
    expect(page.headers['x-frame-options']).to.equal('DENY')
    const lib = await get(server.port, '/vendor/cytoscape.esm.min.mjs')
    expect(lib.status).to.equal(200)
    expect(lib.headers['content-type']).to.match(/javascript/)
    expect(lib.body.length).to.be.greaterThan(100_000)
    for (const file of ['/app.js', '/graph.js', '/style.css']) expect((await get(server.port, file)).status, file).to.equal(200)
  })

  it('answers the state as JSON', async () => {
    const r = await get(server.port, '/api/state')
    expect(r.status).to.equal(200)
    expect(JSON.parse(r.body)).to.include({ town: 'oak' })
  })

  it('refuses another Host (DNS rebinding), writes and unknown pages', async () => {
    expect((await get(server.port, '/api/state', { host: 'evil.example:80' })).status).to.equal(421)
    expect((await get(server.port, '/api/state', { host: `evil.example:${server.port}` })).status).to.equal(421)
    expect((await get(server.port, '/api/state', { host: `localhost:${server.port}` })).status).to.equal(200)
    expect((await get(server.port, '/api/state', { method: 'POST' })).status).to.equal(405)
    expect((await get(server.port, '/../package.json')).status).to.equal(404)
    expect((await get(server.port, '/src/observer/observer.ts')).status).to.equal(404)
  })

  it('pushes the state over server-sent events when it changes', async () => {
    const events: any[] = []
    const req = request({ host: '127.0.0.1', port: server.port, path: '/events', headers: { host: `127.0.0.1:${server.port}` } }, (res) => {
      expect(res.headers['content-type']).to.match(/text\/event-stream/)
      let buffer = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buffer += chunk
        let end
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const data = block.split('\n').find(l => l.startsWith('data: '))
          if (block.includes('event: state') && data != null) events.push(JSON.parse(data.slice(6)))
        }
      })
    })
    req.end()
    try {
      await waitFor(() => events.length === 1, 10_000, 'the first state on connect')
      await waitFor(() => server.clients() === 1, 5_000, 'the page counted')
      model.chatMessage({ id: 'c1', from: 'x', fromName: 'alice', text: 'hello town', at: 1 })
      server.changed()
      await waitFor(() => events.some(e => e.chat.some((c: any) => c.text === 'hello town')), 10_000, 'the pushed change')
    } finally {
      req.destroy()
    }
    await waitFor(() => server.clients() === 0, 5_000, 'the closed page forgotten')
  })

  it('says so when the port is taken', async () => {
    const err = await startDashboardServer(() => model.snapshot(), server.port).then(() => undefined, (e: unknown) => e)
    expect(err).to.be.instanceOf(PortInUseError)
  })

  it('`meshtown observe` refuses a bad room id and a taken port with exit code 2', async () => {
    const boot = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'
    const badRoom = await runCli(['observe', '--town', 'oak', '--bootstrap', boot, '--room', 'nope'])
    expect(badRoom.exitCode).to.equal(2)
    expect(badRoom.stderr).to.match(/invalid room id/)
    const { tempDir, removeDir } = await import('./helpers/peers.js')
    const dir = await tempDir()
    try {
      const taken = await runCli(['observe', '--town', 'oak', '--bootstrap', boot, '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', dir, '--http-port', String(server.port)])
      expect(taken.exitCode).to.equal(2)
      expect(taken.stderr).to.match(/dashboard port \d+ is in use/)
    } finally {
      await removeDir(dir)
    }
  })
})
