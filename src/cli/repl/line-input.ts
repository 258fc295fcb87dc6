/**
 * Lines in, text out, for both kinds of REPL session:
 * - interactive (a terminal): readline with a prompt, history, tab completion and
 *   Ctrl-C; text that arrives unasked is printed above the prompt, and the line
 *   being typed is redrawn under it intact;
 * - piped: no prompt and no echo; lines that arrive while a command runs wait in a
 *   queue, so a script's commands run one after another, in order.
 * Questions asked in the middle of a command (`create`'s) read the same lines.
 */
import { clearLine, createInterface, cursorTo, type Completer, type Interface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'

/** Two Ctrl-Cs this close together at an empty prompt leave the REPL. */
const DOUBLE_INTERRUPT_MS = 3_000

export interface ReadOptions {
  /** Ctrl-C gives up this question (read() answers null) rather than clearing the line. */
  cancellable?: boolean
}

export class LineInput {
  private readonly rl: Interface
  private readonly queued: string[] = []
  private waiting?: { resolve: (line: string | null) => void, prompt: () => string, cancellable: boolean }
  private isClosed = false
  private lastInterruptAt = 0

  constructor (input: Readable, private readonly output: Writable, readonly interactive: boolean, completer?: Completer) {
    this.rl = createInterface({
      input,
      // piped: readline must not echo or prompt, so it gets no output at all
      output: interactive ? output : undefined,
      terminal: interactive,
      completer: interactive ? completer : undefined,
      historySize: interactive ? 500 : 0
    })
    this.rl.on('line', (line) => { this.onLine(line) })
    this.rl.on('close', () => { this.onClose() })
    if (interactive) this.rl.on('SIGINT', () => { this.onInterrupt() })
  }

  /** True once input ended (EOF, Ctrl-D, a double Ctrl-C, or close()). */
  get closed (): boolean {
    return this.isClosed
  }

  /**
   * The next line, showing `prompt` first when interactive. Null when input has
   * ended, or when a cancellable question was given up with Ctrl-C.
   */
  async read (prompt: () => string, options: ReadOptions = {}): Promise<string | null> {
    if (this.queued.length > 0) return this.queued.shift()!
    if (this.isClosed) return null
    return new Promise(resolve => {
      this.waiting = { resolve, prompt, cancellable: options.cancellable ?? false }
      if (this.interactive) {
        this.rl.setPrompt(prompt())
        this.rl.prompt()
      }
    })
  }

  /** Print text; while a prompt is showing, above it, with the half-typed line kept. */
  print (text: string): void {
    if (this.interactive && this.waiting != null && !this.isClosed) {
      cursorTo(this.output, 0)
      clearLine(this.output, 0)
      this.output.write(text + '\n')
      this.rl.setPrompt(this.waiting.prompt())
      this.rl.prompt(true)
      return
    }
    this.output.write(text + '\n')
  }

  /** Redraw the prompt if what it shows (time, acted, online) changed. */
  refreshPrompt (): void {
    if (!this.interactive || this.waiting == null || this.isClosed) return
    const next = this.waiting.prompt()
    if (next === this.rl.getPrompt()) return
    this.rl.setPrompt(next)
    this.rl.prompt(true)
  }

  close (): void {
    if (!this.isClosed) this.rl.close()
  }

  private onLine (line: string): void {
    const waiting = this.waiting
    if (waiting == null) {
      this.queued.push(line)
      return
    }
    this.waiting = undefined
    waiting.resolve(line)
  }

  private onClose (): void {
    this.isClosed = true
    const waiting = this.waiting
    this.waiting = undefined
    if (this.interactive) this.output.write('\n')
    waiting?.resolve(null)
  }

  /** Ctrl-C as in most shells: clears a typed line, gives up a question, twice leaves. */
  private onInterrupt (): void {
    const waiting = this.waiting
    if (waiting == null) {
      this.output.write('\n(a command is still running; it will finish first)\n')
      return
    }
    if (this.rl.line.length > 0) {
      this.output.write('^C\n')
      // drop the typed line and start a fresh one under it, as a shell does
      const editable = this.rl as unknown as { line: string, cursor: number }
      editable.line = ''
      editable.cursor = 0
      this.rl.prompt()
      return
    }
    if (waiting.cancellable) {
      this.waiting = undefined
      this.output.write('^C\n')
      waiting.resolve(null)
      return
    }
    const now = Date.now()
    if (now - this.lastInterruptAt < DOUBLE_INTERRUPT_MS) {
      this.close()
      return
    }
    this.lastInterruptAt = now
    this.output.write('^C\n(press Ctrl-C again, or type quit, to leave)\n')
    this.rl.prompt()
  }
}
