/**
 * An SVG timeline of a partition experiment: each peer's position in town time
 * (day * 3 + period) over wall-clock time, as a step line, with the partition
 * windows shaded. Plain SVG, no dependency: it opens in any browser.
 */
export interface Sample { t: number, peer: string, index: number, member: boolean }
export interface Window { start: number, end: number, label: string }

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf']

export function renderTimeline (samples: Sample[], windows: Window[], title: string): string {
  const width = 960
  const height = 420
  const pad = { left: 60, right: 140, top: 40, bottom: 40 }
  const peers = [...new Set(samples.map(s => s.peer))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
  const tMax = Math.max(1, ...samples.map(s => s.t), ...windows.map(w => w.end))
  const iMin = Math.min(0, ...samples.map(s => s.index))
  const iMax = Math.max(1, ...samples.map(s => s.index))
  const x = (t: number): number => pad.left + (t / tMax) * (width - pad.left - pad.right)
  const y = (i: number): number => height - pad.bottom - ((i - iMin) / (iMax - iMin)) * (height - pad.top - pad.bottom)
  const esc = (s: string): string => s.replace(/[<>&"]/g, c => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!)
  const parts: string[] = []
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`)
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`)
  parts.push(`<text x="${pad.left}" y="22" font-size="15">${esc(title)}</text>`)
  for (const w of windows) {
    parts.push(`<rect x="${x(w.start).toFixed(1)}" y="${pad.top}" width="${Math.max(1, x(w.end) - x(w.start)).toFixed(1)}" height="${height - pad.top - pad.bottom}" fill="#f4c7c3" opacity="0.5"><title>${esc(w.label)}</title></rect>`)
  }
  // axes
  parts.push(`<line x1="${pad.left}" y1="${height - pad.bottom}" x2="${width - pad.right}" y2="${height - pad.bottom}" stroke="black"/>`)
  parts.push(`<line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${height - pad.bottom}" stroke="black"/>`)
  const seconds = Math.ceil(tMax / 1000)
  const step = Math.max(1, Math.ceil(seconds / 10))
  for (let s = 0; s <= seconds; s += step) parts.push(`<text x="${x(s * 1000).toFixed(1)}" y="${height - pad.bottom + 16}" text-anchor="middle">${s}s</text>`)
  const yStep = Math.max(1, Math.ceil((iMax - iMin) / 8))
  for (let i = iMin; i <= iMax; i += yStep) {
    const label = `d${Math.floor(i / 3) + 1} ${['morn', 'noon', 'eve'][((i % 3) + 3) % 3]}`
    parts.push(`<text x="${pad.left - 6}" y="${y(i).toFixed(1)}" text-anchor="end" dominant-baseline="middle">${label}</text>`)
  }
  peers.forEach((peer, k) => {
    const mine = samples.filter(s => s.peer === peer).sort((a, b) => a.t - b.t)
    if (mine.length === 0) return
    let d = `M${x(mine[0]!.t).toFixed(1)},${y(mine[0]!.index).toFixed(1)}`
    for (let j = 1; j < mine.length; j++) {
      d += ` H${x(mine[j]!.t).toFixed(1)} V${y(mine[j]!.index).toFixed(1)}`
    }
    // a small vertical offset per peer so equal lines stay visible
    parts.push(`<path d="${d}" fill="none" stroke="${COLORS[k % COLORS.length]}" stroke-width="2" transform="translate(0,${(k - peers.length / 2) * 2})"/>`)
    parts.push(`<text x="${width - pad.right + 10}" y="${pad.top + 16 * k}" fill="${COLORS[k % COLORS.length]}">${esc(peer)}</text>`)
  })
  parts.push(`<text x="${width - pad.right + 10}" y="${pad.top + 16 * peers.length + 10}" fill="#c0392b">shaded: partition</text>`)
  parts.push('</svg>')
  return parts.join('\n')
}
