import type { Copy, JobFinishedBody } from '@backstop/shared'
import pino from 'pino'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import { auditSink, createBrain, type BrainOptions } from '../../src/ledger/brain.ts'
import { ledgerConfig, type LedgerConfig } from '../../src/ledger/config.ts'
import { createAssetsRepo } from '../../src/store/assets-repo.ts'
import { createCopiesRepo } from '../../src/store/copies-repo.ts'
import { openDb } from '../../src/store/db.ts'
import { createNodesRepo } from '../../src/store/nodes-repo.ts'
import { createRunsRepo } from '../../src/store/runs-repo.ts'
import { fakeClock } from './fake-clock.ts'

export const T0 = Date.parse('2026-11-20T00:00:00Z')
export const H = 3600_000

/** A real migrated SQLite, the core's own repos as the "ingest", the brain on a fake clock, MQTT captured. */
export function harness(
  config: LedgerConfig = ledgerConfig(),
  extra: Partial<Pick<BrainOptions, 'deviceHealth'>> = {},
) {
  const { db } = openDb({ file: ':memory:' })
  const clock = fakeClock(T0)
  const auditLog = createAuditLog(db)
  const published: { topic: string; payload: Record<string, unknown>; retain: boolean }[] = []
  const brain = createBrain({
    db,
    log: pino({ level: 'silent' }),
    clock,
    config,
    audit: auditSink(auditLog, () => clock.now()),
    ...extra,
    publish: (topic, payload, o) =>
      published.push({ topic, payload: JSON.parse(payload) as Record<string, unknown>, retain: o.retain }),
  })
  const core = {
    nodes: createNodesRepo(db),
    runs: createRunsRepo(db),
    copies: createCopiesRepo(db),
    assets: createAssetsRepo(db),
  }
  core.nodes.insert({
    node: 'pve1',
    publicKey: 'k',
    fingerprint: 'f',
    enrolledAt: new Date(T0).toISOString(),
    hostname: 'pve1',
    agentVersion: '0',
  })
  const iso = (t: number): string => new Date(t).toISOString()
  let runN = 0
  return {
    db,
    clock,
    brain,
    core,
    published,
    auditLog,
    /** One job run as the ingest would commit it: started, then finished with copies. */
    run(
      job: string,
      startedAt: number,
      durationMs: number,
      copies: Copy[],
      status: JobFinishedBody['status'] = 'success',
      bytes?: number,
    ): string {
      const runId = `r${++runN}`
      db.transaction(() => {
        core.runs.started(
          'pve1',
          { runId, job, jobKind: 'zfs-snapshot', startedAt: iso(startedAt), trigger: 'schedule' },
          iso(startedAt),
        )
      })()
      db.transaction(() => {
        const body: JobFinishedBody = {
          runId,
          job,
          jobKind: 'zfs-snapshot',
          startedAt: iso(startedAt),
          finishedAt: iso(startedAt + durationMs),
          status,
          copies,
          deleted: [],
          warnings: [],
          ...(bytes !== undefined ? { bytes } : {}),
        }
        core.runs.finished('pve1', body, iso(startedAt + durationMs))
        for (const c of copies) {
          core.copies.upsert('pve1', c, runId, iso(startedAt + durationMs))
        }
      })()
      return runId
    },
    copy(id: string, assetId: string, createdAt: number, over: Partial<Copy> = {}): Copy {
      return {
        copyId: id,
        asset: { kind: 'zfs-dataset', id: assetId },
        location: { kind: 'zfs-pool', target: 'backup' },
        name: id,
        media: 'hdd',
        offsite: false,
        offline: false,
        immutable: false,
        createdAt: iso(createdAt),
        verification: { state: 'verified' },
        ...over,
      }
    },
    alert(key: string) {
      return brain.repos.alerts.get(key)
    },
  }
}
