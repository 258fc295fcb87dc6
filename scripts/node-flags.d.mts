// Types of node-flags.mjs (plain JS: bin/meshtown.js loads it before any TypeScript can run).
export declare const NODE_FLAGS: string[]
export declare const EARLY_TIER_UP_FLAGS: string[]
export declare const MANY_PEERS_NODE_FLAGS: string[]
export declare function nodeFlagsFor (args?: string[]): string[]
export declare function missingNodeFlags (execArgv?: string[], nodeOptions?: string, flags?: string[]): string[]
