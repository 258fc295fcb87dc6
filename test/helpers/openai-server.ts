import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One scripted answer of the fake endpoint to POST /v1/chat/completions. */
export type ScriptedReply =
  /** A model answer calling tools; `arguments` is sent as given when a string (so it can be broken JSON). */
  | { toolCalls: Array<{ name: string, arguments: string | object }>, content?: string }
  /** A model answer with text only, no tool call. */
  | { content: string }
  /** An HTTP error, e.g. 429 with a retry-after header. */
  | { status: number, headers?: Record<string, string>, body?: unknown }
  /** A 200 whose JSON body is anything at all. */
  | { raw: unknown }
  /** Never answer (until the server stops or the client gives up). */
  | { hang: true }
  /** Cut the connection without an answer. */
  | { drop: true }

export type ScriptStep = ScriptedReply | ((request: RecordedRequest) => ScriptedReply)

export interface RecordedRequest {
  at: number
  body: any
  /** The chat messages the client sent. */
  messages: any[]
  /** Names of the tools the client offered. */
  tools: string[]
}

export function toolCall (name: string, args: string | object = {}): ScriptedReply {
  return { toolCalls: [{ name, arguments: args }] }
}

/** The tool results (parsed JSON) of a request's trailing tool messages. */
export function toolResults (request: RecordedRequest): any[] {
  const out: any[] = []
  for (let i = request.messages.length - 1; i >= 0 && request.messages[i].role === 'tool'; i--) out.unshift(JSON.parse(request.messages[i].content))
  return out
}

/**
 * A local OpenAI-compatible endpoint for tests: node:http on 127.0.0.1, one
 * scripted reply per chat completion request, in order. Every request is
 * recorded so a test can check what the client sent back (tool results,
 * validation errors). When the script runs out it answers `whenExhausted`
 * (a 500 by default, which shows up in the test rather than passing silently).
 */
export class FakeOpenAIServer {
  readonly requests: RecordedRequest[] = []
  private readonly steps: ScriptStep[] = []
  whenExhausted: ScriptStep = { status: 500, body: { error: { message: 'the test script is exhausted', type: 'server_error' } } }
  private server?: Server
  private port = 0
  private calls = 0

  /** The base URL for the openai client (OPENAI_BASE_URL). */
  get url (): string {
    return `http://127.0.0.1:${this.port}/v1`
  }

  script (...steps: ScriptStep[]): this {
    this.steps.push(...steps)
    return this
  }

  get pending (): number {
    return this.steps.length
  }

  async start (): Promise<this> {
    const server = createServer((req, res) => { void this.serve(req, res) })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
    this.server = server
    this.port = (server.address() as AddressInfo).port
    return this
  }

  async stop (): Promise<void> {
    const server = this.server
    if (server == null) return
    this.server = undefined
    // hanging answers hold their sockets: cut them
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => resolve()))
  }

  private async serve (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    if (req.method !== 'POST' || !(req.url ?? '').endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }))
      return
    }
    let body: any
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'body is not JSON' } }))
      return
    }
    const request: RecordedRequest = {
      at: Date.now(),
      body,
      messages: body.messages ?? [],
      tools: (body.tools ?? []).map((t: any) => t.function?.name)
    }
    this.requests.push(request)
    const step = this.steps.shift() ?? this.whenExhausted
    const reply = typeof step === 'function' ? step(request) : step
    this.answer(reply, body.model ?? 'test-model', res)
  }

  private answer (reply: ScriptedReply, model: string, res: ServerResponse): void {
    const json = (status: number, payload: unknown, headers: Record<string, string> = {}): void => {
      const text = JSON.stringify(payload)
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers }).end(text)
    }
    if ('hang' in reply) return
    if ('drop' in reply) {
      res.socket?.destroy()
      return
    }
    if ('status' in reply) {
      json(reply.status, reply.body ?? { error: { message: `scripted ${reply.status}` } }, reply.headers)
      return
    }
    if ('raw' in reply) {
      json(200, reply.raw)
      return
    }
    const n = ++this.calls
    const toolCalls = 'toolCalls' in reply
      ? reply.toolCalls.map((c, i) => ({
        id: `call_${n}_${i}`,
        type: 'function',
        function: { name: c.name, arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments) }
      }))
      : undefined
    json(200, {
      id: `chatcmpl-${n}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [{
        index: 0,
        finish_reason: toolCalls == null ? 'stop' : 'tool_calls',
        message: { role: 'assistant', content: reply.content ?? null, ...(toolCalls == null ? {} : { tool_calls: toolCalls }) }
      }],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }
    })
  }
}
