import type { AccessRepo } from './node-access.ts'

/**
 * `backstop-collector node revoke` runs in its own process; the running collector notices the new row here and
 * drops the session (the broker already refuses the next CONNECT by reading node_access). Returns a stop function.
 */
export function watchRevocations(o: {
  access: AccessRepo
  since: Date
  intervalMs?: number
  onRevoked: (node: string) => void
}): () => void {
  let mark = o.since.toISOString()
  const seen = new Map<string, string>()
  const timer = setInterval(() => {
    for (const r of o.access.revokedSince(mark)) {
      if (seen.get(r.node) !== r.changedAt) {
        seen.set(r.node, r.changedAt)
        o.onRevoked(r.node)
      }
      mark = r.changedAt > mark ? r.changedAt : mark
    }
  }, o.intervalMs ?? 2000)
  timer.unref()
  return () => clearInterval(timer)
}
