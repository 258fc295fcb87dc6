import { expect } from 'chai'
import { PERF_FREQUENCY, summarizePerfScript } from '../scripts/bench/perf-summary.js'

// The benchmark's perf summary (scripts/bench/perf-summary.ts) reads `perf script` output: each
// sample is a header (thread name, pid/tid) and its stack, leaf first. perf itself is not needed here.
const sample = (comm: string, pid: number, tid: number, frames: string[]): string =>
  `${comm}  ${pid}/${tid} \n${frames.map(f => `\t    ${f}`).join('\n')}\n`

const town = [
  // our JS, named through the perf map
  sample('node', 1234, 1234, [
    "7f43fbedd83f JS:+'applyVote file:///work/main/src/town/clock.ts:138:19 (/tmp/perf-1234.map)",
    '1634654 Builtins_InterpreterEntryTrampoline (/work/main/node_modules/node/bin/node)'
  ]),
  // a builtin called from gossipsub's JS counts as gossipsub
  sample('node', 1234, 1234, [
    '1634655 Builtins_KeyedLoadIC_Megamorphic (/work/main/node_modules/node/bin/node)',
    '7f43fbedd840 JS:*handleReceivedRpc file:///work/main/node_modules/@libp2p/gossipsub/dist/src/index.js:900:5 (/tmp/perf-1234.map)'
  ]),
  // libsodium, whose frames hide the JS that called it
  sample('node', 1234, 1234, ['1a2b fe25519_mul (/work/main/node_modules/sodium-native/prebuilds/linux-x64/sodium-native.node)']),
  // libsodium sealing a noise frame, and the JS of Meshtown's noise crypto that called it
  sample('node', 1234, 1234, ['1a2c chacha20_encrypt_bytes (/work/main/node_modules/sodium-native/prebuilds/linux-x64/sodium-native.node)']),
  sample('node', 1234, 1234, [
    '1634656 Builtins_CallApiCallbackGeneric (/work/main/node_modules/node/bin/node)',
    "7f43fbedd841 JS:*chaCha20Poly1305Encrypt file:///work/main/src/node/noise-crypto.ts:40:5 (/tmp/perf-1234.map)"
  ]),
  // JSON.parse is V8's C++ (its parser is no compiler's), under our decodeJson
  sample('node', 1234, 1234, [
    'a33ef1 v8::internal::JsonParser<unsigned char>::ParseJsonObject (/work/main/node_modules/node/bin/node)',
    "7f43fbedd842 JS:*decodeJson file:///work/main/src/protocols/wire.ts:20:5 (/tmp/perf-1234.map)"
  ]),
  // a compiler thread of the same process
  sample('V8 DefaultWorke', 1234, 1240, ['a22df1 v8::internal::compiler::PipelineCompilationJob::ExecuteJobImpl (/work/main/node_modules/node/bin/node)']),
  // the kernel sending on a socket, under a writev
  sample('node', 1234, 1234, [
    'ffffffff821f26e7 tcp_sendmsg ([kernel.kallsyms])',
    'ffffffff821ecc51 do_syscall_64 ([kernel.kallsyms])',
    'fdc47 writev (/usr/lib/x86_64-linux-gnu/libc.so.6)'
  ]),
  // the libuv pool's fsync for LevelDB
  sample('libuv-worker', 1234, 1250, [
    'ffffffff81a00000 jbd2_log_wait_commit ([kernel.kallsyms])',
    'ffffffff81a00001 ext4_sync_file ([kernel.kallsyms])'
  ]),
  // another process of the town: its bootstrap peer
  sample('node', 77, 77, ['7f0000000001 JS:~wasm-function[29]-29-liftoff (/tmp/perf-77.map)'])
]
const outside = [
  sample('tsc', 999, 999, ['55 v8::internal::Parser::ParseProgram (/usr/bin/node)']),
  sample('swapper', 0, 0, ['ffffffff8 default_idle ([kernel.kallsyms])'])
]

describe('bench: perf summary', () => {
  const ms = 1000 / PERF_FREQUENCY

  it('counts each on-CPU sample once, by what the town was doing, its threads and leaf functions', () => {
    const s = summarizePerfScript([...town, ...outside].join('\n'), new Map([[1234, 'villager processes'], [77, 'bootstrap']]))
    expect(s.totalMs).to.be.closeTo(10 * ms, 1e-9)
    const activity = Object.fromEntries(s.byActivity.map(a => [a.name, a.ms / ms]))
    expect(activity).to.deep.equal({
      'Meshtown src (clock, trades, status, ...)': 1,
      'gossipsub (protocol, ids, dedupe, forwarding)': 1,
      'Ed25519 (libsodium)': 1,
      'V8 compiling': 1,
      'kernel: sockets (TCP over loopback)': 1,
      'kernel: files (LevelDB, fsync)': 1,
      'noise transport encryption': 3,
      'JSON + zod schemas': 1
    })
    // processes outside the town count in the process table only; the idle task nowhere
    expect(Object.fromEntries(s.byProcess.map(p => [p.name, p.ms / ms]))).to.deep.equal({ 'villager processes': 9, bootstrap: 1, 'other processes': 1 })
    expect(Object.fromEntries(s.byThread.map(t => [t.name, t.ms / ms]))).to.deep.equal({
      'main thread (JS)': 8, "V8's helper threads (GC, compiling)": 1, "libuv's pool (LevelDB writes, fsync, crypto)": 1
    })
    expect(s.byFunction.map(f => f.name)).to.include('applyVote [meshtown src/town/clock.ts]')
    expect(s.byJsFunction.find(f => f.name === 'handleReceivedRpc [@libp2p/gossipsub]')?.ms).to.be.closeTo(ms, 1e-9)
  })

  it('without roles every process counts; text that is no sample is skipped', () => {
    const s = summarizePerfScript(['not a header\n\tnothing\n', ...town, ...outside].join('\n'))
    expect(s.totalMs).to.be.closeTo(11 * ms, 1e-9)
    expect(s.byActivity.find(a => a.name === 'V8 compiling')?.ms).to.be.closeTo(2 * ms, 1e-9)
  })
})
