/**
 * In-process counters for the ingest path and the broker. Deliberately tiny: the hot path does a Map lookup and an
 * add. export/prometheus.ts maps `snapshot()` onto prom-client collectors (one counter per name, `label` as the one
 * label: the error code, message kind or reason).
 */
export const counterNames = [
  /** accepted and committed (first time), label = kind */
  'ingest_stored_total',
  /** accepted again: a replayed msgId, stored once and acked again; label = kind */
  'ingest_duplicate_total',
  /** rejected with a code and included in the ack, label = BK_ERR_* */
  'ingest_rejected_total',
  /** garbage that could not be attributed to a msgId: dropped, not acked; label = BK_ERR_* */
  'ingest_dropped_total',
  /** ack envelopes published (one per node per batch) */
  'ingest_acks_total',
  /** committed batch transactions */
  'ingest_batches_total',
  /** batch transactions that failed and were rolled back (nothing acked; clients disconnected to replay) */
  'ingest_batch_failures_total',
  /** CONNECT refused, label = reason */
  'broker_auth_refused_total',
  /** publish/subscribe refused by the topic ACL, label = publish | subscribe */
  'broker_acl_refused_total',
  /** retained status messages applied, label = online | offline */
  'broker_status_total',
  /** connections, packets and publishes refused by a broker limit (broker/limits.ts), label = reason */
  'broker_refused_total',
] as const
export type CounterName = (typeof counterNames)[number]

export interface Counters {
  inc(name: CounterName, label?: string, by?: number): void
  get(name: CounterName, label?: string): number
  /** name → label → value ('' is the unlabelled series). */
  snapshot(): Record<CounterName, Record<string, number>>
}

export function createCounters(): Counters {
  const values = new Map<CounterName, Map<string, number>>(counterNames.map((n) => [n, new Map()]))
  return {
    inc: (name, label = '', by = 1) => {
      const m = values.get(name) as Map<string, number>
      m.set(label, (m.get(label) ?? 0) + by)
    },
    get: (name, label) => {
      const m = values.get(name) as Map<string, number>
      if (label !== undefined) {
        return m.get(label) ?? 0
      }
      let total = 0
      for (const v of m.values()) {
        total += v
      }
      return total
    },
    snapshot: () =>
      Object.fromEntries(
        counterNames.map((n) => [n, Object.fromEntries(values.get(n) as Map<string, number>)]),
      ) as Record<CounterName, Record<string, number>>,
  }
}
