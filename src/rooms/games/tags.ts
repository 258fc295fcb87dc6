/**
 * Heuristic agents talk in plain sentences that start with one bracketed tag
 * a program can read back: `[vote Bram] I vote for Bram.` The tag holds the
 * move (words and key=value pairs, lists comma-separated), the rest is for
 * people (and models). An LLM told the same convention can play with them; a
 * message without a tag is simply no move.
 */
export interface Tag {
  readonly name: string
  readonly args: readonly string[]
  readonly kv: Readonly<Record<string, string>>
}

const TAG = /^\s*\[([a-z][a-z0-9_-]*)((?:\s+[^\]\s]+)*)\s*\]/

export function parseTag (content: string): Tag | undefined {
  const m = TAG.exec(content)
  if (m === null) return undefined
  const args: string[] = []
  const kv: Record<string, string> = {}
  for (const word of (m[2] ?? '').trim().split(/\s+/).filter(w => w !== '')) {
    const eq = word.indexOf('=')
    if (eq > 0) kv[word.slice(0, eq)] = word.slice(eq + 1)
    else args.push(word)
  }
  return { name: m[1] as string, args, kv }
}

export function formatTag (name: string, args: ReadonlyArray<string | number> = [], kv: Readonly<Record<string, string | number | readonly string[]>> = {}): string {
  const parts = [name, ...args.map(String)]
  for (const [k, v] of Object.entries(kv)) parts.push(`${k}=${Array.isArray(v) ? (v.length > 0 ? v.join(',') : 'none') : String(v)}`)
  return `[${parts.join(' ')}]`
}

/** `a,b` -> [a, b]; `none` or absent -> []. */
export function listArg (value: string | undefined): string[] {
  if (value === undefined || value === 'none' || value === '') return []
  return value.split(',').filter(v => v !== '')
}
