import type { BodyOf } from '@backstop/shared'
import { isBacklog, type KeepBounds } from './keep-bounds.ts'
import type { KeptStats } from './outbox.ts'

const HOUR = 3600_000

/** Pure: the `outbox.retention` body for the outbox's kept records at `nowMs`. */
export function retentionReport(s: KeptStats, bounds: KeepBounds, nowMs: number): BodyOf<'outbox.retention'> {
  return {
    state: isBacklog(s.oldestKeptAt, s.keptBytes, bounds, nowMs) ? 'backlog' : 'ok',
    keptEvents: s.kept,
    keptBytes: s.keptBytes,
    ...(s.oldestKeptAt !== null ? { oldestKeptAt: new Date(s.oldestKeptAt).toISOString() } : {}),
    checkpointSeq: s.checkpointSeq,
    uncoveredThrough: s.uncoveredThrough,
    ...(s.lost ? { lost: s.lost } : {}),
    limits: {
      maxBytes: bounds.maxBytes,
      maxAgeHours: Math.round(bounds.maxAgeMs / HOUR),
      alertAfterHours: Math.round(bounds.alertAfterMs / HOUR),
    },
  }
}

/** What the collector's alerts depend on: a report is sent only when this changes (and once per process). */
function alertState(r: BodyOf<'outbox.retention'>): string {
  return JSON.stringify([r.state, r.uncoveredThrough > r.checkpointSeq, r.uncoveredThrough, r.lost ?? null])
}

export interface RetentionReporterDeps {
  readonly bounds: KeepBounds
  readonly stats: () => KeptStats
  readonly now: () => number
  /** runtime.emit('outbox.retention', body): durable, signed, acked like every event. */
  readonly emit: (body: BodyOf<'outbox.retention'>) => Promise<unknown>
  readonly log: { error(obj: object, msg: string): void }
}

/**
 * Turns changes of the outbox's kept records into `outbox.retention` events (the collector's `outbox-backlog` and
 * `outbox-uncovered` alerts). The first change after start always reports, so an alert the collector still shows
 * from before a restart is re-judged.
 */
export function createRetentionReporter(d: RetentionReporterDeps): { changed(): void } {
  let last: string | undefined
  return {
    changed() {
      const body = retentionReport(d.stats(), d.bounds, d.now())
      const key = alertState(body)
      if (key === last) {
        return
      }
      last = key
      d.emit(body).catch((e: unknown) => {
        last = undefined
        d.log.error({ err: e }, 'could not queue the outbox.retention report; it is sent with the next change')
      })
    },
  }
}
