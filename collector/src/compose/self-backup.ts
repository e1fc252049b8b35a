import type { Logger } from 'pino'
import type { AuditLog } from '../audit/audit-log.ts'
import type { VerifiedBackup } from '../checkpoint/checkpoint-service.ts'
import type { ResolvedCollectorConfig } from '../config/schema.ts'
import { inspectOffThread } from '../self-backup/backup-file.ts'
import { createCollectorAsset } from '../self-backup/collector-asset.ts'
import { createSelfBackupService, type SelfBackupService } from '../self-backup/self-backup-service.ts'
import { probeDirectory } from '../self-backup/storage-probe.ts'
import { createCopiesRepo } from '../store/copies-repo.ts'
import { dataDirPolicy } from '../store/data-dir.ts'
import type { Db } from '../store/db.ts'
import { createLedgerChangesRepo } from '../store/ledger-changes-repo.ts'
import { createSelfBackupsRepo, type SelfBackupsRepo } from '../store/self-backups-repo.ts'
import type { Clock } from '../time/clock.ts'
import type { LedgerPart } from './ledger.ts'

export interface SelfBackupPartDeps {
  readonly db: Db
  readonly config: ResolvedCollectorConfig
  readonly clock: Clock
  readonly log: Logger
  readonly audit: AuditLog
  readonly ledger: LedgerPart
  /** The checkpoint service's `onVerifiedBackup`: what each verified backup covers goes out to the agents. */
  readonly onVerifiedBackup: (b: VerifiedBackup) => void
}

export interface SelfBackupPart {
  readonly repo: SelfBackupsRepo
  /** undefined without a `selfBackup:` section. */
  readonly service: SelfBackupService | undefined
}

/**
 * Step of the composition root (main.ts): the collector's backups of its own database, recorded as copies of the
 * collector's asset in its own ledger (judged by the ledger's 3-2-1-1-0 engine) and reported to the checkpoint
 * service after each verified one. Without a `selfBackup:` section there is no service, and the start says so.
 */
export function composeSelfBackup(d: SelfBackupPartDeps): SelfBackupPart {
  const repo = createSelfBackupsRepo(d.db)
  const config = d.config.selfBackup
  if (config === undefined) {
    d.log.warn(
      { config: d.config.file },
      "no selfBackup section: the collector's own database is not backed up, and losing its disk loses the " +
        'history, the audit chain and what agents already released (docs/reliability.md "Collector self-backup")',
    )
    return { repo, service: undefined }
  }
  const asset = createCollectorAsset({
    db: d.db,
    node: config.node,
    copies: createCopiesRepo(d.db),
    changes: createLedgerChangesRepo(d.db),
    wake: d.ledger.ledger.wake,
  })
  const service = createSelfBackupService({
    db: d.db,
    config,
    fileMode: dataDirPolicy(d.config.dataDirAccess).fileMode,
    dataDir: d.config.dataDir,
    clock: d.clock,
    log: d.log,
    repo,
    audit: d.audit,
    asset,
    inspect: inspectOffThread,
    probe: (dir, hints) => probeDirectory(dir, hints),
    alerts: d.ledger.alerts,
    onVerifiedBackup: d.onVerifiedBackup,
  })
  return { repo, service }
}
