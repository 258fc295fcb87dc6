// Builds dist/meshtown.mjs: the CLI in one ES module. A process started from it
// loads in a fraction of the time and memory that loading the TypeScript
// sources through tsx takes (see BENCHMARKS.md), which matters when every
// villager, agent and observer is its own process. `npm install` runs it
// (prepare); bin/meshtown.js rebuilds it when a source is newer.
//
//   node scripts/build.mjs            the CLI
//   node scripts/build.mjs --check    exit 1 if the bundle is missing or older than src/
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const CLI_BUNDLE = path.join(ROOT, 'dist', 'meshtown.mjs')

/** What the bundle is made of: our sources and the patches applied to dependencies (patches/, by patch-package). */
export const SOURCE_DIRS = [path.join(ROOT, 'src'), path.join(ROOT, 'patches')]

/** Newest modification time under the given directories (ms). */
export function newestSource (dirs = SOURCE_DIRS) {
  let newest = 0
  for (const dir of dirs) {
    if (!existsSync(dir)) continue
    for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue
      const t = statSync(path.join(entry.parentPath, entry.name)).mtimeMs
      if (t > newest) newest = t
    }
  }
  return newest
}

export function isFresh (bundle = CLI_BUNDLE, dirs) {
  return existsSync(bundle) && statSync(bundle).mtimeMs >= newestSource(dirs)
}

/**
 * Bundle `entry` into `outfile`. Packages are bundled too (that is most of the
 * saving) except native ones. Written to a temporary file and renamed, so
 * processes starting at the same moment never load half a file.
 */
export async function bundle ({ entry = path.join(ROOT, 'src', 'cli', 'main.ts'), outfile = CLI_BUNDLE } = {}) {
  const { build } = await import('esbuild')
  const tmp = `${outfile}.${process.pid}.${Date.now()}.tmp.mjs`
  mkdirSync(path.dirname(outfile), { recursive: true })
  try {
    await build({
      entryPoints: [entry],
      outfile: tmp,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      // MESHTOWN_READABLE_BUNDLE=1 keeps names and lines, with esbuild's `// path` comment
      // before each module, so that a CPU profile of the bundle reads (profile-summary.ts
      // maps a frame's line back to its module)
      minifyWhitespace: process.env.MESHTOWN_READABLE_BUNDLE !== '1',
      minifySyntax: true,
      minifyIdentifiers: process.env.MESHTOWN_READABLE_BUNDLE !== '1',
      keepNames: true,
      // native bindings load their compiled part from their own package directory
      external: ['classic-level', 'sodium-native'],
      // some CommonJS dependencies call require(); an ES module has none of its own
      banner: { js: "import { createRequire as __meshtownRequire } from 'node:module'; const require = __meshtownRequire(import.meta.url);" },
      logLevel: 'error'
    })
    renameSync(tmp, outfile)
  } finally {
    rmSync(tmp, { force: true })
  }
  return outfile
}

if (process.argv[1] != null && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) {
    const fresh = isFresh()
    process.stdout.write(fresh ? `${path.relative(ROOT, CLI_BUNDLE)} is up to date\n` : `${path.relative(ROOT, CLI_BUNDLE)} is missing or older than src/\n`)
    process.exit(fresh ? 0 : 1)
  }
  const t0 = Date.now()
  await bundle()
  process.stdout.write(`built ${path.relative(ROOT, CLI_BUNDLE)} in ${Date.now() - t0} ms\n`)
}
