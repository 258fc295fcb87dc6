#!/usr/bin/env node
// The `meshtown` command. libp2p needs Node >= 22; when started by an older
// Node (the system one), re-run on the Node that `npm install` put in
// node_modules (the `node` devDependency); run with meshtown's node flags
// (scripts/node-flags.mjs). Then load the CLI bundle (dist/).
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import module from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { missingNodeFlags, nodeFlagsFor } from '../scripts/node-flags.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')
const major = Number(process.versions.node.split('.')[0])

if (major < 22) {
  const bundled = path.join(root, 'node_modules', 'node', 'bin', 'node')
  if (!existsSync(bundled)) {
    process.stderr.write(`meshtown: error: Node ${process.versions.node} is too old (libp2p needs >= 22) and no bundled Node was found: run \`npm install\` in ${root}\n`)
    process.exit(1)
  }
  // the user's own node flags go along (they win over meshtown's, as on a new Node)
  const nodeArgs = [...process.execArgv, ...missingNodeFlags(process.execArgv, undefined, nodeFlagsFor())]
  const child = spawn(bundled, [...nodeArgs, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' })
  // Ctrl-C reaches the whole process group already; other signals are passed on
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => { if (signal !== 'SIGINT') child.kill(signal) })
  }
  child.on('exit', (code, signal) => {
    if (signal != null) process.kill(process.pid, signal)
    process.exit(code ?? 1)
  })
} else {
  const flags = missingNodeFlags(process.execArgv, undefined, nodeFlagsFor())
  if (flags.length > 0 && typeof process.execve === 'function') {
    // node's heap settings are fixed at start: run again with them, in this same
    // process (pid, stdio and signals stay as the caller set them up). Should the
    // exec fail, run on without them: they save memory, nothing depends on them.
    try {
      process.execve(process.execPath, [process.execPath, ...process.execArgv, ...flags, fileURLToPath(import.meta.url), ...process.argv.slice(2)])
    } catch (err) {
      process.stderr.write(`meshtown: warning: cannot restart node with ${flags.join(' ')} (${err?.message ?? err}); running without\n`)
    }
  }
  const { main } = await loadCli()
  await main(process.argv)
}

/**
 * The CLI from dist/meshtown.mjs (built by `npm install`, rebuilt here when a
 * source is newer), or from the TypeScript sources through tsx when
 * MESHTOWN_FROM_SOURCE=1 or the bundle cannot be built.
 */
async function loadCli () {
  if (process.env.MESHTOWN_FROM_SOURCE !== '1') {
    try {
      const build = await import('../scripts/build.mjs')
      if (!build.isFresh()) await build.bundle()
      // V8's compiled code for the bundle is kept on disk (node's compile cache, in the temp dir): later starts skip the compiling
      module.enableCompileCache?.()
      return await import(pathToFileURL(build.CLI_BUNDLE).href)
    } catch (err) {
      process.stderr.write(`meshtown: warning: cannot build dist/meshtown.mjs (${err?.message ?? err}); running from the sources\n`)
    }
  }
  const { register } = await import('tsx/esm/api')
  register()
  return await import('../src/cli/main.ts')
}
