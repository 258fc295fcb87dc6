/** A small keep-alive JSON client for the baseline (the strongest fair version of a client). */
import { Agent, request } from 'node:http'

const agent = new Agent({ keepAlive: true, maxSockets: 256 })

export class HttpError extends Error {
  constructor (readonly status: number, readonly body: any) {
    super(`HTTP ${status}: ${JSON.stringify(body)}`)
  }
}

export async function call (base: string, method: string, route: string, body?: unknown, timeoutMs = 35_000): Promise<any> {
  const url = new URL(route, base)
  const payload = body == null ? undefined : JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = request({
      host: url.hostname, port: url.port, path: url.pathname + url.search, method, agent, timeout: timeoutMs,
      headers: payload == null ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
    }, (res) => {
      let data = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { data += c })
      res.on('end', () => {
        let json: any
        try { json = JSON.parse(data) } catch { json = { raw: data } }
        if ((res.statusCode ?? 0) >= 300) reject(new HttpError(res.statusCode ?? 0, json))
        else resolve(json)
      })
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${route}: timeout`)))
    req.on('error', reject)
    req.end(payload)
  })
}
