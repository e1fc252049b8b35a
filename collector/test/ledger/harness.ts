import type {
  BodyOf,
  Copy,
  Envelope,
  HeartbeatBody,
  InventoryBody,
  OfflineCause,
  JobFinishedBody,
  JobsDeclaredBody,
  JobStartedBody,
  MessageKind,
  StorageIdentity,
} from '@backstop/shared'
import pino from 'pino'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import { applyMessage } from '../../src/ingest/index.ts'
import { createStatusRecorder } from '../../src/ingest/status.ts'
import type { HandlerContext } from '../../src/ingest/types.ts'
import { composeLedger } from '../../src/compose/ledger.ts'
import { ledgerConfig, type LedgerConfig } from '../../src/ledger/config.ts'
import { createDiskHealthStore } from '../../src/health/disk-health-store.ts'
import { createAssetsRepo } from '../../src/store/assets-repo.ts'
import { createCopiesRepo } from '../../src/store/copies-repo.ts'
import { openDb, type Db } from '../../src/store/db.ts'
import { createEventsRepo } from '../../src/store/events-repo.ts'
import { createLedgerChangesRepo } from '../../src/store/ledger-changes-repo.ts'
import { createNodesRepo } from '../../src/store/nodes-repo.ts'
import { createRunsRepo } from '../../src/store/runs-repo.ts'
import { fakeClock } from './fake-clock.ts'

export const T0 = Date.parse('2026-11-20T00:00:00Z')
export const H = 3600_000

/**
 * The ingest as the ledger sees it: each write goes through the real message handler (ingest/index.ts), which
 * writes the core tables and marks the ledger changes, or through the status recorder the broker path uses.
 */
function ingestFor(db: Db, clock: { now(): number }) {
  const store = {
    nodes: createNodesRepo(db),
    events: createEventsRepo(db),
    runs: createRunsRepo(db),
    copies: createCopiesRepo(db),
    assets: createAssetsRepo(db),
    commands: { recordResult: () => false },
    diskHealth: createDiskHealthStore(db),
  }
  const ctx: HandlerContext = {
    store,
    changes: createLedgerChangesRepo(db),
    collectorPublicKey: 'collector-key',
    pinAfterCommit: () => {},
  }
  let seq = 0
  // Tests give times as ISO strings; '' means "now" on the fake clock.
  const receivedAt = (at: string): number => (at === '' ? clock.now() : Date.parse(at))
  const apply = <K extends MessageKind>(kind: K, node: string, body: BodyOf<K>, at: string): void => {
    seq++
    const env = { v: 1, kind, node, msgId: `m${seq}`, seq, ts: at, sig: 'unchecked', body } as unknown as Envelope
    applyMessage({ env, raw: JSON.stringify(env), receivedAt: receivedAt(at) }, ctx)
  }
  const status = createStatusRecorder(db, store.nodes)
  return {
    nodes: {
      insert: store.nodes.insert,
      setStatus: (
        node: string,
        state: 'online' | 'offline',
        at: string,
        _seenAt: string,
        reason?: OfflineCause,
      ): void => status(node, state, receivedAt(at), undefined, reason),
      setHeartbeat: (node: string, body: Partial<HeartbeatBody>, at: string, hostname: string, agentVersion: string) =>
        apply('heartbeat', node, { jobs: [], ...body, hostname, agentVersion } as HeartbeatBody, at),
    },
    runs: {
      started: (node: string, body: JobStartedBody, at: string) => apply('job.started', node, body, at),
      finished: (node: string, body: JobFinishedBody, at: string) => apply('job.finished', node, body, at),
    },
    assets: {
      replaceInventory: (node: string, inv: InventoryBody) => apply('inventory', node, inv, inv.at),
    },
    jobs: {
      declare: (node: string, body: JobsDeclaredBody) => apply('jobs.declared', node, body, ''),
    },
  }
}

/**
 * A real migrated SQLite, the real ingest handlers, the compliance side composed as main.ts does it
 * (compose/ledger.ts) on a fake clock, MQTT captured.
 */
export function harness(config: LedgerConfig = ledgerConfig()) {
  const { db } = openDb({ file: ':memory:' })
  const clock = fakeClock(T0)
  const auditLog = createAuditLog(db)
  const published: { topic: string; payload: Record<string, unknown>; retain: boolean }[] = []
  const part = composeLedger({
    db,
    log: pino({ level: 'silent' }),
    clock,
    config,
    audit: auditLog,
    telemetry: undefined,
    afterCommit: () => undefined,
    fetch: globalThis.fetch,
    publish: (topic, payload, o) =>
      published.push({ topic, payload: JSON.parse(payload) as Record<string, unknown>, retain: o.retain }),
  })
  const core = ingestFor(db, clock)
  core.nodes.insert({
    node: 'pve1',
    publicKey: 'k',
    fingerprint: 'f',
    enrolledAt: T0,
    hostname: 'pve1',
    agentVersion: '0',
  })
  const iso = (t: number): string => new Date(t).toISOString()
  let runN = 0
  return {
    db,
    clock,
    /** The composed parts, as main.ts hands them to the API. */
    part,
    ledger: part.ledger,
    alerts: part.alerts,
    diskHealth: part.diskHealth,
    repos: { alerts: part.alertsRepo, assets: part.assets, expectations: part.expectations, notify: part.channels },
    start: part.start,
    stop: part.stop,
    core,
    published,
    auditLog,
    /** One job run as the ingest commits it: started, then finished with copies (two batches). */
    run(
      job: string,
      startedAt: number,
      durationMs: number,
      copies: Copy[],
      status: JobFinishedBody['status'] = 'success',
      bytes?: number,
      /** Where each asset's live data is (probed storage), as a storage-probing agent reports it. */
      sources?: JobFinishedBody['sources'],
      /** The coded error of a failed or partial run. */
      error?: JobFinishedBody['error'],
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
          ...(sources !== undefined ? { sources } : {}),
          ...(error !== undefined ? { error } : {}),
        }
        core.runs.finished('pve1', body, iso(startedAt + durationMs))
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
      return part.alertsRepo.get(key)
    },
  }
}

/** Probed storage as a storage-probing agent reports it: pve1 at site "home" unless overridden. */
export function probedStorage(o: Partial<StorageIdentity> = {}): StorageIdentity {
  return { host: 'pve1', site: 'home', devices: [], media: 'hdd', ...o }
}
/** tank, the production pool of tank/* in these tests: one NVMe at home. */
export const tankSource = probedStorage({
  devices: [{ id: 'wwn:0x5002538e0000tank', transport: 'nvme' }],
  fsUuid: 'tank-guid',
  media: 'nvme',
})
/** The `backup` pool on a second disk at home: an independent copy, online, not offsite. */
export const backupPoolStorage = probedStorage({
  devices: [{ id: 'serial:WD-BACKUP', transport: 'sata' }],
  fsUuid: 'bk',
})
