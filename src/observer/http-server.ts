/**
 * The dashboard's web server: static files (the page and its one library,
 * cytoscape, served from node_modules), the state as JSON, and the same state
 * pushed with server-sent events whenever it changes. Loopback only: requests
 * from another address get 403, and a Host header that is not this machine's
 * (a DNS-rebinding page) gets 421. It only ever serves what the TownModel
 * holds, which is public by construction; nothing here can be written to.
 */
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { PROJECT_ROOT } from '../node/project-root.js'
import { isLoopback } from '../town/control-api.js'
import type { DashboardState } from './town-model.js'

export const WEB_ROOT = path.join(PROJECT_ROOT, 'src', 'observer', 'web')
/** At most this many pages open at once (each is one SSE stream). */
export const MAX_EVENT_CLIENTS = 32
const HEARTBEAT_MS = 15_000
const PUSH_COALESCE_MS = 100

function resolveVendor (specifier: string, fallback: string): string {
  try {
    return fileURLToPath(import.meta.resolve(specifier))
  } catch {
    return fallback
  }
}

const STATIC: Record<string, { file: () => string, type: string }> = {
  '/': { file: () => path.join(WEB_ROOT, 'index.html'), type: 'text/html; charset=utf-8' },
  '/index.html': { file: () => path.join(WEB_ROOT, 'index.html'), type: 'text/html; charset=utf-8' },
  '/app.js': { file: () => path.join(WEB_ROOT, 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/graph.js': { file: () => path.join(WEB_ROOT, 'graph.js'), type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: () => path.join(WEB_ROOT, 'style.css'), type: 'text/css; charset=utf-8' },
  '/vendor/cytoscape.esm.min.mjs': {
    file: () => resolveVendor('cytoscape/dist/cytoscape.esm.min.mjs', path.join(WEB_ROOT, '..', '..', '..', 'node_modules', 'cytoscape', 'dist', 'cytoscape.esm.min.mjs')),
    type: 'text/javascript; charset=utf-8'
  }
}

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store'
}

export interface DashboardServer {
  server: Server
  port: number
  url: string
  /** Pages connected to the event stream right now. */
  clients: () => number
  /** The state changed: push it (coalesced) to every open page. */
  changed: () => void
  close: () => Promise<void>
}

export class PortInUseError extends Error {
  override name = 'PortInUseError'
}

/** Serve the dashboard on 127.0.0.1:port (0 = any free port); `state` is read on each push and request. */
export async function startDashboardServer (state: () => DashboardState, port: number): Promise<DashboardServer> {
  const host = '127.0.0.1'
  const clients = new Set<ServerResponse>()
  const files = new Map<string, Buffer>()
  let actualPort = port
  let lastPushed = ''
  let pushTimer: ReturnType<typeof setTimeout> | undefined

  const body = (): string => JSON.stringify(state())
  /** `now` moves every time: compare without it, so an unchanged town is not pushed again. */
  const fingerprint = (json: string): string => json.replace(/"now":\d+,/, '')

  const push = (force = false): void => {
    if (clients.size === 0) return
    const json = body()
    const fp = fingerprint(json)
    if (!force && fp === lastPushed) return
    lastPushed = fp
    for (const res of clients) res.write(`event: state\ndata: ${json}\n\n`)
  }

  const allowedHost = (value: string | undefined): boolean => {
    if (value == null) return false
    return [`127.0.0.1:${actualPort}`, `localhost:${actualPort}`, `[::1]:${actualPort}`].includes(value.toLowerCase())
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const fail = (status: number, code: string, message: string): void => {
      const text = JSON.stringify({ error: { code, message } })
      res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    }
    req.resume()
    if (!isLoopback(req.socket.remoteAddress)) return fail(403, 'NOT_LOOPBACK', 'the dashboard only answers requests from this machine')
    if (!allowedHost(req.headers.host)) return fail(421, 'WRONG_HOST', `open the dashboard as http://127.0.0.1:${actualPort}/`)
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(405, 'METHOD_NOT_ALLOWED', 'the dashboard is read-only: GET only')
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname === '/api/state') {
      const text = body()
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
      res.end(req.method === 'HEAD' ? undefined : text)
      return
    }
    if (url.pathname === '/events') {
      if (req.method === 'HEAD') {
        res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8' })
        res.end()
        return
      }
      if (clients.size >= MAX_EVENT_CLIENTS) return fail(503, 'TOO_MANY_PAGES', `at most ${MAX_EVENT_CLIENTS} pages at once`)
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' })
      res.write(`retry: 1000\nevent: state\ndata: ${body()}\n\n`)
      clients.add(res)
      res.on('close', () => { clients.delete(res) })
      return
    }
    const entry = STATIC[url.pathname]
    if (entry == null) return fail(404, 'NOT_FOUND', `no page ${url.pathname}`)
    let content = files.get(url.pathname)
    if (content == null) {
      try {
        content = await readFile(entry.file())
      } catch (err: any) {
        return fail(500, 'MISSING_FILE', `cannot read ${url.pathname}: ${err.message}`)
      }
      files.set(url.pathname, content)
    }
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': entry.type, 'content-length': content.byteLength })
    res.end(req.method === 'HEAD' ? undefined : content)
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: any) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
      res.end(`internal error: ${err?.message ?? err}`)
    })
  })
  server.keepAliveTimeout = 1_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE' ? new PortInUseError(`dashboard port ${port} is in use: choose another --http-port`) : err)
    })
    server.listen(port, host, () => resolve())
  })
  actualPort = (server.address() as AddressInfo).port
  const heartbeat = setInterval(() => {
    for (const res of clients) res.write(': keep-alive\n\n')
  }, HEARTBEAT_MS)

  return {
    server,
    port: actualPort,
    url: `http://${host}:${actualPort}/`,
    clients: () => clients.size,
    changed: () => {
      if (pushTimer != null) return
      pushTimer = setTimeout(() => { pushTimer = undefined; push() }, PUSH_COALESCE_MS)
    },
    close: async () => {
      clearInterval(heartbeat)
      clearTimeout(pushTimer)
      for (const res of clients) res.end()
      clients.clear()
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}
