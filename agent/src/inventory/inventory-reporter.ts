import { createHash } from 'node:crypto'
import type { InventoryBody } from '@backstop/shared'
import type { Clock } from '../clock.ts'
import type { Log } from '../log.ts'
import type { ScheduledJob } from '../scheduler/scheduler.ts'

/** The scheduler name of the inventory task (not a valid job name, so it never collides with one). */
export const INVENTORY_TASK = '@inventory'

/** How often the inventory is looked at; it is sent only when it changed, or a day after the last one sent. */
export const inventoryTask: ScheduledJob = {
  name: INVENTORY_TASK,
  schedule: { cron: '0 */15 * * * *', timezone: 'UTC' },
  catchUp: false,
  internal: true,
}

/** Even an unchanged inventory is sent once a day: the collector sees it is current, not merely unchanged. */
export const INVENTORY_RESEND_MS = 24 * 3600_000

export interface InventoryReporterDeps {
  readonly collect: () => Promise<InventoryBody>
  /** runtime.emit('inventory', body): resolves once the event is durable. */
  readonly emit: (body: InventoryBody) => Promise<unknown>
  readonly clock: Clock
  readonly log: Log
}

export interface InventoryReporter {
  /** Collects; sends on the first call, on change, or when the last send is a day old. Never rejects. */
  check(): Promise<'sent' | 'unchanged' | 'failed'>
}

/** The hash of what the inventory says, without its timestamp: equal hashes mean nothing changed. */
export function inventoryHash(body: InventoryBody): string {
  const { at: _at, ...content } = body
  return createHash('sha256').update(JSON.stringify(content)).digest('hex')
}

export function createInventoryReporter(deps: InventoryReporterDeps): InventoryReporter {
  const log = deps.log.child({ component: 'inventory' })
  let last: { hash: string; at: number } | null = null
  return {
    async check() {
      let body: InventoryBody
      try {
        body = await deps.collect()
      } catch (e) {
        // Only a stop or a bug gets here (a failing tool leaves its parts `incomplete`): send nothing half-taken.
        log.warn({ err: e }, 'could not take the inventory; nothing sent, next look in 15 min')
        return 'failed'
      }
      const hash = inventoryHash(body)
      const now = deps.clock.now().getTime()
      if (last !== null && last.hash === hash && now - last.at < INVENTORY_RESEND_MS) {
        return 'unchanged'
      }
      try {
        await deps.emit(body)
      } catch (e) {
        log.error({ err: e }, 'could not append the inventory event; next try in 15 min')
        return 'failed'
      }
      last = { hash, at: now }
      const gaps = body.assets.filter((a) => a.coveredBy.length === 0).length
      log.info({ assets: body.assets.length, uncovered: gaps, role: body.role }, 'inventory reported')
      for (const { part, reason } of body.incomplete ?? []) {
        // Logged when sent (on change or daily), not at every 15-min look: a broken tool is not a log flood.
        log.warn({ part, reason }, `inventory: ${part} unknown (${reason}); the collector keeps its last known state`)
      }
      return 'sent'
    },
  }
}
