// The network as a graph, drawn by cytoscape (served from node_modules). Nodes
// keep their places across updates; the layout runs again only when the set of
// nodes changes. Missing links between villagers are drawn as red dashes.
import cytoscape from '/vendor/cytoscape.esm.min.mjs'

const COLORS = { villager: '#2f6f4f', merchant: '#a8741a', observer: '#1f5fa8', bootstrap: '#6b5b95', peer: '#8a8a8a' }

const STYLE = [
  {
    selector: 'node',
    style: {
      label: 'data(label)',
      'background-color': (n) => COLORS[n.data('kind')] ?? '#888',
      color: '#23201b',
      'font-size': 12,
      'text-valign': 'bottom',
      'text-margin-y': 4,
      width: 26,
      height: 26,
      'border-width': 2,
      'border-color': '#fff'
    }
  },
  { selector: 'node[kind = "villager"]', style: { width: 34, height: 34, 'font-size': 14, 'font-weight': 'bold' } },
  { selector: 'node[kind = "observer"]', style: { shape: 'round-rectangle' } },
  { selector: 'node[kind = "bootstrap"], node[kind = "merchant"]', style: { shape: 'diamond' } },
  { selector: 'node.silent', style: { 'background-color': '#c9c4ba', 'border-color': '#8a8a8a', 'border-style': 'dashed', 'border-width': 3, color: '#8a8a8a' } },
  { selector: 'edge', style: { width: 2, 'line-color': '#6f8f9f', 'curve-style': 'straight', opacity: 0.8 } },
  { selector: 'edge[kind = "missing"]', style: { width: 2, 'line-color': '#b3261e', 'line-style': 'dashed', 'line-dash-pattern': [6, 4], opacity: 0.9 } }
]

export class NetworkGraph {
  constructor (container) {
    this.cy = cytoscape({
      container,
      style: STYLE,
      elements: [],
      userZoomingEnabled: false,
      userPanningEnabled: false,
      boxSelectionEnabled: false,
      autoungrabify: false
    })
    this.nodeKey = ''
  }

  update (network) {
    const cy = this.cy
    const nodeIds = new Set(network.nodes.map(n => n.id))
    const edgeId = (e) => `${e.kind}:${e.source}:${e.target}`
    const edgeIds = new Set(network.edges.map(edgeId))
    cy.batch(() => {
      cy.elements().forEach(el => {
        if (el.isNode() ? !nodeIds.has(el.id()) : !edgeIds.has(el.id())) el.remove()
      })
      for (const n of network.nodes) {
        const existing = cy.getElementById(n.id)
        const data = { id: n.id, label: n.label, kind: n.kind, group: n.group }
        if (existing.empty()) cy.add({ group: 'nodes', data })
        else existing.data(data)
        cy.getElementById(n.id).toggleClass('silent', n.silent)
      }
      for (const e of network.edges) {
        const id = edgeId(e)
        if (cy.getElementById(id).empty()) cy.add({ group: 'edges', data: { id, source: e.source, target: e.target, kind: e.kind } })
      }
    })
    const key = [...nodeIds].sort().join(',')
    if (key !== this.nodeKey) {
      this.nodeKey = key
      // villagers on the outer ring, in name order; the observer and the town's infrastructure inside
      cy.layout({
        name: 'concentric',
        concentric: (n) => n.data('kind') === 'villager' ? 1 : 2,
        levelWidth: () => 1,
        sort: (a, b) => String(a.data('label')).localeCompare(String(b.data('label'))),
        minNodeSpacing: 40,
        padding: 30,
        animate: false
      }).run()
    }
  }
}
