/**
 * A CONNECT password (`<ts>.<sig over connect\n<node>\n<ts>>`) is accepted once per (node, ts). Only passwords
 * whose signature verified are recorded, so an attacker cannot fill this; per node at most `perNode` recent
 * timestamps are kept and everything at or below the newest forgotten one is refused too (bounded memory without
 * reopening a replay window). A restart forgets the set, so passwords signed before this process started are
 * refused: an agent whose clock lags the collector's reconnects as soon as its clock passes the start.
 */
export interface ConnectReplay {
  /** Records (node, ts); false = already used (or older than what this guard can still tell apart). */
  accept(node: string, ts: number): boolean
}

interface Seen {
  floor: number
  recent: number[]
}

export function createConnectReplay(opts: { startedAt: number; windowMs: number; perNode?: number }): ConnectReplay {
  const perNode = opts.perNode ?? 32
  const seen = new Map<string, Seen>()
  return {
    accept: (node, ts) => {
      const s = seen.get(node) ?? { floor: opts.startedAt, recent: [] }
      if (ts <= s.floor || s.recent.includes(ts)) {
        return false
      }
      // Timestamps that left the skew window can never verify again; dropping them is free.
      s.recent = s.recent.filter((r) => r >= ts - 2 * opts.windowMs)
      s.recent.push(ts)
      if (s.recent.length > perNode) {
        s.recent.sort((x, y) => x - y)
        s.floor = Math.max(s.floor, s.recent.shift() as number)
      }
      seen.set(node, s)
      return true
    },
  }
}
