import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The project's root directory: the nearest parent of this module with
 * Meshtown's package.json. The same code runs from src/ (through tsx) and from
 * the dist/ bundle, so paths are found, not counted in `..`s.
 */
export function findProjectRoot (from: string = fileURLToPath(import.meta.url)): string {
  let dir = path.dirname(from)
  for (;;) {
    const manifest = path.join(dir, 'package.json')
    if (existsSync(manifest)) {
      try {
        if (JSON.parse(readFileSync(manifest, 'utf8')).name === 'meshtown') return dir
      } catch {}
    }
    const up = path.dirname(dir)
    if (up === dir) throw new Error(`cannot find Meshtown's package.json above ${from}`)
    dir = up
  }
}

export const PROJECT_ROOT = findProjectRoot()
