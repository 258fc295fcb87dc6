// The dashboard page: one EventSource (/events) pushes the whole state on every
// change; each section is rebuilt from it. Everything from the network is put in
// the page as text (textContent), never as HTML.
import { NetworkGraph } from './graph.js'

const $ = (id) => document.getElementById(id)

/** Build an element: h('li', { class: 'x', data: { id: 1 } }, 'text', child...). */
function h (tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue
    if (k === 'class') el.className = v
    else if (k === 'data') for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv)
    else if (k === 'style') for (const [sk, sv] of Object.entries(v)) el.style.setProperty(sk, sv)
    else el.setAttribute(k, String(v))
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue
    el.append(c instanceof Node ? c : document.createTextNode(String(c)))
  }
  return el
}

function ago (ms) {
  if (ms == null) return 'never'
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s}s ago`
  const m = Math.floor(s / 60)
  return m < 60 ? `${m}m ago` : `${Math.floor(m / 60)}h ago`
}

function itemsText (items) {
  const parts = Object.entries(items ?? {}).filter(([, n]) => n > 0).map(([item, n]) => `${n} ${item}`)
  return parts.length === 0 ? '—' : parts.join(', ')
}

function renderTime (state) {
  const t = state.time
  $('town').textContent = state.town
  document.title = t.synced ? `Day ${t.day} ${t.period} · ${state.town} · Meshtown` : `${state.town} · Meshtown`
  $('time-label').textContent = t.synced ? `Day ${t.day} · ${t.period}` : 'waiting for the town\'s time…'
  $('time-label').dataset.day = t.day ?? ''
  $('time-label').dataset.period = t.period ?? ''
  const votes = $('votes')
  if (!t.synced || t.members.length === 0) {
    votes.replaceChildren(h('p', { class: 'empty' }, t.synced ? 'No member yet.' : 'No town peer has answered yet.'))
    return
  }
  const chips = t.members.map(m => h('span', {
    class: `chip ${m.evicted ? 'evicted' : m.voted ? 'voted' : 'awaited'}`,
    data: { name: m.name, voted: m.voted }
  }, m.voted ? `✓ ${m.name}` : m.evicted ? `✗ ${m.name}` : `○ ${m.name}`, m.voted && m.action ? h('span', { class: 'occupation' }, m.action) : null))
  const voted = t.members.filter(m => m.voted).length
  votes.replaceChildren(
    h('div', { class: 'chips' }, chips),
    h('div', { class: 'waiting', 'data-testid': 'awaiting' },
      t.awaiting.length === 0 ? 'Everyone has acted: time moves on.' : `Waiting for ${t.awaiting.join(', ')}`,
      h('span', { class: 'hint' }, `${voted} of ${t.members.length} voted · majority ${t.majority}`))
  )
}

function renderVillagers (state) {
  const rows = state.villagers.map(v => {
    const stamina = v.stamina == null
      ? '—'
      : [h('span', { class: `bar ${v.stamina < 30 ? 'low' : ''}` }, h('span', { style: { width: `${v.stamina}%` } })), String(v.stamina)]
    const time = v.time == null ? '—' : h('span', { class: v.behind ? 'behind' : '' }, `day ${v.time.day} ${v.time.period}`)
    return h('tr', { class: v.silent ? 'silent' : '', data: { name: v.name, peer: v.peerId } },
      h('td', {}, v.name, h('span', { class: 'occupation' }, v.occupation ?? ''), v.member ? null : h('span', { class: 'hint' }, 'not a member')),
      h('td', { class: 'num', data: { field: 'stamina' } }, stamina),
      h('td', { class: 'num', data: { field: 'coins' } }, v.coins ?? '—'),
      h('td', { data: { field: 'items' } }, itemsText(v.items)),
      h('td', {}, time),
      h('td', { class: 'num' }, v.peerCount ?? '—'),
      h('td', {}, v.heardAt == null ? 'never' : ago(state.now - v.heardAt)))
  })
  $('villagers').replaceChildren(...(rows.length > 0 ? rows : [h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No villager heard from yet.'))]))
}

function describeTrade (t) {
  const a = t.initiator.name
  const b = t.counterparty.name
  const total = t.quantity * t.unitPrice
  return t.side === 'buy'
    ? `${a} buys ${t.quantity} ${t.item} from ${b} at ${t.unitPrice} (${total} coins)`
    : `${a} sells ${t.quantity} ${t.item} to ${b} at ${t.unitPrice} (${total} coins)`
}

function renderTrades (state) {
  const items = state.trades.map(t => h('li', { class: 'trade', data: { trade: t.id, state: t.state } },
    h('span', { class: 'what' }, describeTrade(t)),
    h('span', { class: `state ${t.state} ${t.settling ? 'settling' : ''}`, title: t.settling ? 'the two sides have not agreed yet' : '' }, t.state),
    h('div', { class: 'sides' },
      `${t.initiator.name}: ${t.initiator.status ?? 'not heard'} · ${t.counterparty.name}: ${t.counterparty.status ?? 'not heard'} · `,
      `${ago(state.now - t.updatedAt)} · id ${t.id}`)))
  const list = $('trades')
  const top = list.scrollTop
  list.replaceChildren(...(items.length > 0 ? items : [h('li', { class: 'empty' }, 'No trade yet.')]))
  list.scrollTop = top
}

/** Rebuild a feed's items, keeping the reader's place: at the bottom it follows new messages. */
function refill (list, items) {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 24
  const top = list.scrollTop
  list.replaceChildren(...items)
  list.scrollTop = atBottom ? list.scrollHeight : top
}

const roomViews = new Map()

function roomView (id) {
  let v = roomViews.get(id)
  if (v == null) {
    v = {
      root: h('div', { class: 'room', data: { room: id } }),
      title: h('h3'),
      error: h('p', { class: 'empty' }),
      agents: h('div', { class: 'chips' }),
      transcript: h('ol', { class: 'feed transcript' })
    }
    v.root.append(v.title, v.error, v.agents, v.transcript)
    roomViews.set(id, v)
  }
  return v
}

function renderRooms (state) {
  const container = $('rooms')
  if (state.rooms.length === 0) {
    container.replaceChildren(h('p', { class: 'empty' }, 'No room watched (start the observer with --room ID).'))
    return
  }
  const roots = state.rooms.map(r => {
    const v = roomView(r.id)
    v.title.replaceChildren(r.name ?? 'room', ' ', h('span', { class: 'id' }, r.id), ' ',
      h('span', { class: 'hint' }, r.status === 'watching' ? (r.ended != null ? `ended: ${r.ended}` : 'live') : 'looking for the room…'))
    v.error.textContent = r.error ?? ''
    v.error.hidden = r.error == null
    v.agents.replaceChildren(...r.agents.map(a => h('span', { class: `agent ${a.connected ? 'connected' : ''}`, title: a.connected ? 'connected' : 'not connected' }, a.name)))
    refill(v.transcript, r.messages.length === 0
      ? [h('li', { class: 'empty' }, 'No public message yet.')]
      : r.messages.map(m => h('li', { class: `msg ${m.end != null ? 'end' : ''}`, data: { id: m.id } },
        m.turn != null ? h('span', { class: 'turn' }, `#${m.turn}`) : null,
        h('span', { class: 'who' }, m.sender),
        m.receivers.length > 0 ? h('span', { class: 'to' }, ` → ${m.receivers.join(', ')}`) : null,
        ': ',
        h('span', { class: 'content' }, m.pass ? '(passes)' : m.content),
        m.end != null ? h('div', { class: 'hint' }, `game over: ${m.end}`) : null)))
    return v.root
  })
  if (roots.length !== container.children.length || roots.some((r, i) => container.children[i] !== r)) container.replaceChildren(...roots)
}

function renderChat (state) {
  const items = state.chat.map(c => h('li', { data: { from: c.fromName } }, h('span', { class: 'who' }, c.fromName), ': ', c.text))
  refill($('chat'), items.length > 0 ? items : [h('li', { class: 'empty' }, 'Nobody has said anything to the whole town yet.')])
}

function renderNetwork (state, graph) {
  const net = state.network
  graph.update(net)
  const badge = $('partition')
  badge.className = `badge ${net.partitioned ? 'bad' : 'ok'}`
  badge.textContent = net.partitioned ? 'partitioned' : net.groups.length === 1 ? 'one piece' : ''
  $('groups').replaceChildren(...(net.partitioned
    ? net.groups.map((g, i) => h('span', { class: 'group' }, `side ${i + 1}: ${g.join(', ')}`))
    : []),
  net.others > 0 ? h('span', { class: 'hint' }, `(${net.others} other peer${net.others === 1 ? '' : 's'} not of this town, not drawn)`) : null)
}

function render (state, graph) {
  renderTime(state)
  renderVillagers(state)
  renderTrades(state)
  renderRooms(state)
  renderChat(state)
  renderNetwork(state, graph)
  $('footer').textContent = `observer ${state.observer.peerId} · ${state.observer.connections} connections · updated ${new Date(state.now).toLocaleTimeString()}`
}

function connect () {
  const graph = new NetworkGraph($('graph'))
  const link = $('link')
  const source = new EventSource('/events')
  source.addEventListener('open', () => { link.className = 'link live'; link.textContent = 'live' })
  source.addEventListener('error', () => { link.className = 'link down'; link.textContent = 'reconnecting…' })
  source.addEventListener('state', (e) => {
    link.className = 'link live'
    link.textContent = 'live'
    try {
      render(JSON.parse(e.data), graph)
    } catch (err) {
      console.error('dashboard: cannot render', err)
    }
  })
}

connect()
