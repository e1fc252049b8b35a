import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import type { StorageIdentity } from '@backstop/shared'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import type { VerifiedBackup } from '../../src/checkpoint/checkpoint-service.ts'
import { composeLedger } from '../../src/compose/ledger.ts'
import { resolveSelfBackup, type SelfBackupInput } from '../../src/config/self-backup-input.ts'
import { ledgerConfig } from '../../src/ledger/config.ts'
import { inspectBackup } from '../../src/self-backup/backup-file.ts'
import { createCollectorAsset } from '../../src/self-backup/collector-asset.ts'
import { createSelfBackupService } from '../../src/self-backup/self-backup-service.ts'
import { createCopiesRepo } from '../../src/store/copies-repo.ts'
import { openDb } from '../../src/store/db.ts'
import { createLedgerChangesRepo } from '../../src/store/ledger-changes-repo.ts'
import { createSelfBackupsRepo } from '../../src/store/self-backups-repo.ts'
import { fakeClock } from '../ledger/fake-clock.ts'

export const T0 = Date.parse('2026-11-20T00:00:00Z')
export const H = 3600_000

/** The collector's data disk: one NVMe at site "home". */
export const dataDisk: StorageIdentity = {
  host: 'coll',
  site: 'home',
  devices: [{ id: 'wwn:0x5000000000000data', transport: 'nvme' }],
  fsUuid: 'data-fs',
  media: 'nvme',
}

/**
 * A real migrated SQLite file (WAL) in a temp directory, the ledger composed as main.ts does on a fake clock, and
 * the self-backup service over it with a storage probe answering from `storageOf` (default: the data disk).
 */
export function selfBackupHarness(
  input: Omit<SelfBackupInput, 'targets'> & { targets?: SelfBackupInput['targets'] } = {},
  storageOf: (dir: string) => StorageIdentity = () => dataDisk,
) {
  const root = mkdtempSync(join(tmpdir(), 'bk-self-backup-'))
  const dataDir = join(root, 'data')
  const { db } = openDb({ file: join(dataDir, 'collector.db') })
  const clock = fakeClock(T0)
  const audit = createAuditLog(db)
  const part = composeLedger({
    db,
    log: pino({ level: 'silent' }),
    clock,
    config: ledgerConfig(),
    audit,
    telemetry: undefined,
    afterCommit: () => undefined,
    fetch: globalThis.fetch,
    publish: () => undefined,
  })
  const issues: string[] = []
  // A target dir `@/x` is `x` in this harness's temp directory.
  const targets = (input.targets ?? [{ dir: '@/backups', name: 'local' }]).map((t) => ({
    ...t,
    dir: t.dir.startsWith('@/') ? join(root, t.dir.slice(2)) : t.dir,
  }))
  const config = resolveSelfBackup(
    { node: 'collector-test', site: 'home', ...input, targets },
    dataDir,
    (path, message) => issues.push(`${path.join('.')}: ${message}`),
  )
  if (config === undefined || issues.length > 0) {
    throw new Error(`bad test config: ${issues.join('; ')}`)
  }
  const repo = createSelfBackupsRepo(db)
  const verified: VerifiedBackup[] = []
  const service = createSelfBackupService({
    db,
    config,
    fileMode: 0o600,
    dataDir,
    clock,
    log: pino({ level: 'silent' }),
    repo,
    audit,
    asset: createCollectorAsset({
      db,
      node: config.node,
      copies: createCopiesRepo(db),
      changes: createLedgerChangesRepo(db),
      wake: () => undefined,
    }),
    // Inline: booting the worker thread costs seconds under tsx (main.ts uses inspectOffThread).
    inspect: (path) => Promise.resolve(inspectBackup(path)),
    probe: (dir, hints) => ({ ...storageOf(dir), site: hints.site }),
    alerts: part.alerts,
    onVerifiedBackup: (b) => verified.push(b),
  })
  return {
    root,
    dataDir,
    db,
    clock,
    audit,
    part,
    config,
    repo,
    service,
    verified,
    /** Commits events of a node as the ingest would (events table; seq as given). */
    event(node: string, seq: number): void {
      db.prepare(
        `INSERT INTO events (node, msg_id, seq, kind, ts, received_at, raw) VALUES (?, ?, ?, 'heartbeat', ?, ?, '{}')`,
      ).run(node, `${node}-${seq}`, seq, new Date(clock.now()).toISOString(), new Date(clock.now()).toISOString())
    },
    async close(): Promise<void> {
      await service.stop()
      part.stop()
      db.close()
      rmSync(root, { recursive: true, force: true })
    },
  }
}
