// A process that wakes every `periodMs` and reads `touchMB` of its own `sizeMB` buffer, one
// read per 64-byte cache line, then sleeps: a stand-in for other processes sharing the cores,
// taking little CPU but evicting what the others had in the caches (run-probe.ts, POLLUTERS).
//   node scripts/bench/cache-polluter.mjs SIZE_MB TOUCH_MB PERIOD_MS
const [sizeMB, touchMB, periodMs] = process.argv.slice(2).map(Number)
const buf = new Uint8Array(sizeMB * 1024 * 1024).fill(1)
const span = touchMB * 1024 * 1024
let sink = 0
setInterval(() => {
  const start = Math.floor(Math.random() * (buf.length - span)) & ~63
  for (let i = start; i < start + span; i += 64) sink += buf[i]
  if (sink < 0) console.log(sink)
}, periodMs)
