import { readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fsyncDirSync } from '@backstop/node-io'
import { isBackstopError, type AlertCondition, type StorageIdentity } from '@backstop/shared'
import type { Logger } from 'pino'
import type { AuditLog } from '../audit/audit-log.ts'
import type { VerifiedBackup } from '../checkpoint/checkpoint-service.ts'
import type { ResolvedSelfBackup, SelfBackupTarget } from '../config/self-backup-input.ts'
import type { Db } from '../store/db.ts'
import type { SelfBackupsRepo } from '../store/self-backups-repo.ts'
import type { Clock } from '../time/clock.ts'
import { failedCondition, overdueCondition } from './alerts.ts'
import { backupFileName, writeBackup, type BackupInspection } from './backup-file.ts'
import type { CollectorAsset } from './collector-asset.ts'
import { nextSlot, overdueAt, planTargetRetention, slotMissed } from './plan.ts'

export interface SelfBackupDeps {
  readonly db: Db
  readonly config: ResolvedSelfBackup
  /** Mode of the backup files: the data directory's file mode (0600, or 0640 with group-read). */
  readonly fileMode: number
  readonly dataDir: string
  readonly clock: Clock
  readonly log: Logger
  readonly repo: SelfBackupsRepo
  /** The live audit chain: its head when a backup starts, and the entry the copy's head must equal. */
  readonly audit: Pick<AuditLog, 'head' | 'list'>
  readonly asset: CollectorAsset
  /**
   * Reads a written copy back (integrity_check, audit chain, high-water): main.ts runs it on a worker thread
   * (inspectOffThread), so checking a large copy never stalls the broker; tests run it inline.
   */
  readonly inspect: (path: string) => Promise<BackupInspection>
  /** Storage identity of a directory (its devices, filesystem, media), as the agents probe theirs. */
  readonly probe: (dir: string, hints: { site: string; media?: SelfBackupTarget['media'] }) => StorageIdentity
  /** Call inside a transaction; `publish` after it committed (the alert service). */
  readonly alerts: { raise(c: AlertCondition, now: number): unknown; publishPending(): unknown }
  /** After each backup that passed its check (the checkpoint service publishes what it covers). */
  readonly onVerifiedBackup: (b: VerifiedBackup) => void
}

export interface SelfBackupOutcome {
  readonly target: string
  readonly path: string
  readonly verified: boolean
  readonly error: string | null
}

export interface SelfBackupService {
  /** Records the database's own storage, catches up a missed slot at once, then follows the schedule. */
  start(): void
  /** Clears the timer and waits for a backup in progress (call before the database closes). */
  stop(): Promise<void>
  /** One backup per target now, in order; resolves when each was checked, pruned and recorded. */
  runNow(): Promise<SelfBackupOutcome[]>
}

export function createSelfBackupService(d: SelfBackupDeps): SelfBackupService {
  const { config, clock, log } = d
  const schedule = { cron: config.schedule, timezone: config.timezone }
  let timer: unknown
  let stopped = false
  let running: Promise<SelfBackupOutcome[]> | undefined
  let watchingSince = clock.now()

  const tx = (fn: () => void): void => {
    d.db.transaction(fn)()
    d.alerts.publishPending()
  }

  const failedAlert = (t: SelfBackupTarget, error: string | null, at: number): void =>
    tx(() => d.alerts.raise(failedCondition(config.node, t, error), at))

  const checkOverdue = (now: number): number | null => {
    let earliest: number | null = null
    for (const t of config.targets) {
      const lastVerifiedAt = d.repo.lastVerifiedAt(t.name)
      const due = overdueAt(schedule, lastVerifiedAt, watchingSince, config.overdueGraceMs)
      const firing = due !== null && now >= due
      const o = { firing, lastVerifiedAt, schedule: config.schedule, graceMs: config.overdueGraceMs }
      tx(() => d.alerts.raise(overdueCondition(config.node, t, o), now))
      if (due !== null && due > now && (earliest === null || due < earliest)) {
        earliest = due
      }
    }
    return earliest
  }

  const backupTo = async (t: SelfBackupTarget): Promise<SelfBackupOutcome> => {
    const takenAt = clock.now()
    const file = backupFileName(new Date(takenAt))
    const path = join(t.dir, file)
    const startHead = d.audit.head()
    let written: { path: string; bytes: number } | undefined
    let inspection: BackupInspection | undefined
    let error: string | null = null
    try {
      written = await writeBackup(d.db, t.dir, file, d.fileMode)
      inspection = await d.inspect(written.path)
      error = problemOf(inspection, startHead, d.audit)
    } catch (e) {
      error = isBackstopError(e) ? `${e.code}: ${e.message}` : (e as Error).message
    }
    const at = clock.now()
    d.repo.record({
      target: t.name,
      dir: t.dir,
      file,
      takenAt,
      finishedAt: at,
      bytes: written?.bytes ?? null,
      status: error === null ? 'verified' : 'failed',
      integrity: inspection?.integrity ?? null,
      auditHead: inspection?.auditHead ?? null,
      highWater: Object.fromEntries(inspection?.highWater ?? []),
      error,
    })
    if (written !== undefined) {
      d.asset.recordCopy(
        {
          target: t.name,
          dir: t.dir,
          file,
          takenAt,
          bytes: written.bytes,
          storage: d.probe(t.dir, { site: t.site, ...(t.media ? { media: t.media } : {}) }),
          verified: error === null,
          detail: error ?? `integrity ok; audit head ${headText(inspection?.auditHead ?? null)}`,
        },
        at,
      )
    }
    failedAlert(t, error, at)
    if (error === null && inspection !== undefined) {
      log.info({ target: t.name, path, bytes: written?.bytes }, 'verified a backup of the collector database')
      try {
        d.onVerifiedBackup({ path, takenAt: new Date(takenAt).toISOString(), highWater: inspection.highWater })
      } catch (e) {
        // The backup is good either way; the agents keep their events until a later checkpoint reaches them.
        log.error({ err: e, path }, 'publishing the checkpoint of a verified backup failed')
      }
    } else {
      log.error({ target: t.name, path, error }, 'a backup of the collector database failed')
    }
    return { target: t.name, path, verified: error === null, error }
  }

  const prune = (t: SelfBackupTarget): void => {
    let files: string[]
    try {
      files = readdirSync(t.dir)
    } catch (e) {
      log.warn({ target: t.name, err: e }, 'cannot list the self-backup target to apply its keep rules')
      return
    }
    const status = d.repo.liveStatus(t.name)
    const failed = new Set([...status].filter(([, s]) => s === 'failed').map(([f]) => f))
    const now = clock.now()
    const doomed = planTargetRetention(files, failed, config.retention, now).filter((p) => p.action === 'destroy')
    for (const p of doomed) {
      rmSync(join(t.dir, p.id), { force: true })
    }
    if (doomed.length > 0) {
      fsyncDirSync(t.dir)
    }
    for (const p of doomed) {
      const rule = p.reasons.join('; ')
      d.repo.markDeleted(t.name, p.id, rule, now)
      d.asset.recordDeleted({ dir: t.dir, file: p.id, rule, deletedAt: now }, now)
      log.info({ target: t.name, file: p.id, rule }, 'removed a collector backup by the keep rules')
    }
  }

  const runAll = async (): Promise<SelfBackupOutcome[]> => {
    const out: SelfBackupOutcome[] = []
    for (const t of config.targets) {
      if (stopped) {
        break
      }
      out.push(await backupTo(t))
      try {
        prune(t)
      } catch (e) {
        // Too many files is a disk-space problem for later; the next target's backup matters more now.
        log.error({ err: e, target: t.name }, 'applying the keep rules to the self-backup target failed')
      }
    }
    return out
  }

  const runNow = (): Promise<SelfBackupOutcome[]> => {
    running ??= runAll().finally(() => {
      running = undefined
    })
    return running
  }

  const tick = (): void => {
    timer = undefined
    if (stopped) {
      return
    }
    const now = clock.now()
    const due = slotMissed(schedule, newestAttempt(), now)
    const after = (): void => {
      if (stopped) {
        return
      }
      const at = clock.now()
      const wake = [nextSlot(schedule, at), checkOverdue(at)].filter((t): t is number => t !== null)
      if (wake.length > 0) {
        timer = clock.setTimer(tick, Math.min(...wake) - at)
      }
    }
    if (due) {
      runNow().then(after, (e: unknown) => {
        log.error({ err: e }, 'the self-backup run failed unexpectedly; retrying at the next slot')
        after()
      })
    } else {
      after()
    }
  }

  const newestAttempt = (): number | null => {
    const times = config.targets.flatMap((t) => d.repo.list({ target: t.name, includeDeleted: true, limit: 1 }))
    return times.length === config.targets.length ? Math.min(...times.map((r) => r.takenAt)) : null
  }

  return {
    start() {
      watchingSince = clock.now()
      d.asset.recordProduction(d.probe(d.dataDir, { site: config.site }), watchingSince)
      tick()
    },
    async stop() {
      stopped = true
      if (timer !== undefined) {
        clock.clearTimer(timer)
      }
      await running?.catch(() => undefined)
    },
    runNow,
  }
}

/** Why a copy that was written is not a good backup, or null: integrity, its own chain, its head in the live one. */
export function problemOf(
  i: BackupInspection,
  startHead: { seq: number; hash: string } | undefined,
  live: Pick<AuditLog, 'list'>,
): string | null {
  if (i.integrity !== 'ok') {
    return `PRAGMA integrity_check of the copy: ${i.integrity}`
  }
  if (!i.auditOk) {
    return `the audit chain in the copy does not verify: ${i.auditProblem ?? ''}`
  }
  const head = i.auditHead
  if (head === null) {
    return startHead === undefined
      ? null
      : `the copy has no audit entries; the live chain was at seq ${startHead.seq} when the backup started`
  }
  if (startHead !== undefined && head.seq < startHead.seq) {
    return (
      `the copy's audit head (seq ${head.seq}) is older than the live head when the backup started ` +
      `(seq ${startHead.seq})`
    )
  }
  const entry = live.list({ afterSeq: head.seq - 1, limit: 1 })[0]
  if (entry?.seq !== head.seq || entry.hash !== head.hash) {
    return `the copy's audit head (seq ${head.seq}, ${head.hash.slice(0, 12)}…) is not in the live chain`
  }
  return null
}

const headText = (h: { seq: number; hash: string } | null): string =>
  h === null ? 'empty' : `seq ${h.seq} ${h.hash.slice(0, 12)}…`
