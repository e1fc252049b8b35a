import type { BodyOf, Copy, DeletedCopy, Envelope, MessageKind } from '@backstop/shared'
import { applyMessage } from '../../src/ingest/index.ts'
import type { Applied, HandlerContext } from '../../src/ingest/types.ts'
import { createDiskHealthStore } from '../../src/health/disk-health-store.ts'
import { createAssetsRepo } from '../../src/store/assets-repo.ts'
import { createCopiesRepo } from '../../src/store/copies-repo.ts'
import type { Db } from '../../src/store/db.ts'
import { createEventsRepo } from '../../src/store/events-repo.ts'
import { createLedgerChangesRepo } from '../../src/store/ledger-changes-repo.ts'
import { createNodesRepo } from '../../src/store/nodes-repo.ts'
import { createRunsRepo } from '../../src/store/runs-repo.ts'

export const DAY = 86_400_000
const iso = (t: number): string => new Date(t).toISOString()

/**
 * A node's agent as the ingest sees it: numbered envelopes (seq 1, 2, … as its outbox numbers them) applied through
 * the real message handlers, one transaction each, every envelope kept so a test can replay them all.
 */
export function yearAgent(db: Db, node = 'pve1') {
  const ctx: HandlerContext = {
    store: {
      nodes: createNodesRepo(db),
      events: createEventsRepo(db),
      runs: createRunsRepo(db),
      copies: createCopiesRepo(db),
      assets: createAssetsRepo(db),
      commands: { recordResult: () => false },
      diskHealth: createDiskHealthStore(db),
    },
    changes: createLedgerChangesRepo(db),
    collectorPublicKey: 'collector-key',
    pinAfterCommit: () => {},
  }
  const sent: { env: Envelope; receivedAt: number }[] = []
  let seq = 0
  let runN = 0
  const apply = (env: Envelope, receivedAt: number): Applied =>
    db.transaction(() => applyMessage({ env, raw: JSON.stringify(env), receivedAt }, ctx))()
  const send = <K extends MessageKind>(kind: K, body: BodyOf<K>, at: number): Applied => {
    seq++
    const env = { v: 1, kind, node, msgId: `${node}-m${seq}`, seq, ts: iso(at), sig: 'unchecked', body }
    sent.push({ env: env as unknown as Envelope, receivedAt: at })
    return apply(env as unknown as Envelope, at)
  }
  return {
    sent,
    /** Every envelope again, received `at` (an agent resending its outbox): what each apply returned. */
    replayAll: (at: number): Applied[] => sent.map((s) => apply(s.env, at)),
    /** One job run: job.started, then job.finished with the copies it made and the ones it deleted. */
    run(
      job: string,
      at: number,
      copies: Copy[],
      deleted: DeletedCopy[] = [],
      status: 'success' | 'failed' = 'success',
    ) {
      const runId = `run-${++runN}`
      send('job.started', { runId, job, jobKind: 'zfs-snapshot', startedAt: iso(at), trigger: 'schedule' }, at)
      send(
        'job.finished',
        {
          runId,
          job,
          jobKind: 'zfs-snapshot',
          startedAt: iso(at),
          finishedAt: iso(at + 60_000),
          status,
          copies,
          deleted,
          warnings: [],
        },
        at + 60_000,
      )
      return runId
    },
    inventory(at: number, assetIds: string[]) {
      send(
        'inventory',
        {
          at: iso(at),
          assets: assetIds.map((id) => ({ asset: { kind: 'zfs-dataset', id }, coveredBy: ['snap'] })),
        },
        at,
      )
    },
  }
}

export function snapshotCopy(id: string, assetId: string, at: number): Copy {
  return {
    copyId: id,
    asset: { kind: 'zfs-dataset', id: assetId },
    location: { kind: 'zfs-pool', target: 'backup' },
    name: id,
    media: 'hdd',
    offsite: false,
    offline: false,
    immutable: false,
    createdAt: iso(at),
    verification: { state: 'verified' },
  }
}

export function deletion(id: string, assetId: string, at: number): DeletedCopy {
  return {
    copyId: id,
    asset: { kind: 'zfs-dataset', id: assetId },
    location: { kind: 'zfs-pool', target: 'backup' },
    name: id,
    deletedAt: iso(at),
    rule: 'gfs: not in daily(30)',
  }
}

/** Every row of the tables a replay could change, in a stable order (what a user and an auditor see). */
export function ledgerState(db: Db): Record<string, unknown[]> {
  const all = (sql: string): unknown[] => db.prepare(sql).all()
  return {
    copies: all('SELECT * FROM copies ORDER BY node, copy_id'),
    runs: all('SELECT * FROM runs ORDER BY node, run_id'),
    assets: all('SELECT * FROM assets ORDER BY node, asset_kind, asset_id'),
    verdicts: all('SELECT node, asset_kind, asset_id, verdict, reasons, counts FROM ledger_assets ORDER BY 1, 2, 3'),
    alerts: all('SELECT key, state, severity, since FROM alerts ORDER BY key'),
    flips: all('SELECT id, key, from_state, to_state, at FROM alert_flips ORDER BY id'),
    ledgerChanges: all('SELECT * FROM ledger_changes ORDER BY seq'),
  }
}
