import type { Command } from 'commander'
import { copyFileSync, existsSync, renameSync, statSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { userInfo } from 'node:os'
import { basename, join } from 'node:path'
import { fsyncDirSync, type FileGroup } from '@backstop/node-io'
import { BackstopError, snapshotTimestamp } from '@backstop/shared'
import { createAuditLog } from '../audit/audit-log.ts'
import { loadCollectorConfig } from '../config/load.ts'
import { backupTakenAt, inspectBackup, syncFile, type BackupInspection } from '../self-backup/backup-file.ts'
import { dataDirPolicy, prepareDataDir } from '../store/data-dir.ts'
import { openDb } from '../store/db.ts'
import { pidFileOf, runningCollectorPid } from '../store/pid-file.ts'
import type { CliOut } from './token.ts'

const DEFAULT_CONFIG = '/etc/backstop/collector.yaml'

/**
 * `backstop-collector restore --from <backup>`: puts a self-backup (or any copy of the database) in place of the
 * collector's database. Refuses while a collector runs on the data directory, checks the file first (integrity,
 * audit chain, schema not newer than this build), moves the old database and its WAL aside (never deletes them),
 * and renames the restored file into place (atomic). Prints what it restored and what happens next.
 */
export function registerRestoreCommand(program: Command, io: CliOut): void {
  program
    .command('restore')
    .description("replace the collector's database by a backup (the collector must be stopped)")
    .requiredOption('--from <file>', 'backup file, e.g. <target>/backstop-collector-20261205T080700Z.db')
    .option('-c, --config <file>', 'collector YAML config', DEFAULT_CONFIG)
    .action((o: { from: string; config: string }) => {
      const config = loadCollectorConfig(o.config)
      restoreDatabase(
        {
          from: o.from,
          dataDir: config.dataDir,
          dbFile: config.dbFile,
          access: config.dataDirAccess,
          group: config.group,
        },
        io,
      )
    })
}

export interface RestoreRequest {
  readonly from: string
  readonly dataDir: string
  readonly dbFile: string
  readonly access: 'owner-only' | 'group-read'
  /** Config `group:`: the data directory and the restored database belong to it. */
  readonly group?: FileGroup | undefined
  /** Default the wall clock; names the moved-aside files and the audit entry. */
  readonly now?: Date
}

export function restoreDatabase(r: RestoreRequest, io: CliOut): void {
  const pid = runningCollectorPid(r.dataDir)
  if (pid !== undefined) {
    throw new BackstopError(
      'BK_ERR_COLLECTOR_RUNNING',
      `process ${pid} runs a collector on ${r.dataDir} (${pidFileOf(r.dataDir)}); stop it first ` +
        '(systemctl stop backstop-collector), then run restore again. If no collector runs, remove that file',
    )
  }
  const inspected = checkBackup(r.from)
  const now = r.now ?? new Date()
  prepareDataDir(r.dataDir, r.access, r.group)
  const fileMode = dataDirPolicy(r.access).fileMode
  // The copy first, durable under a temp name in the data directory, so the swap below is two renames.
  const tmp = join(r.dataDir, `.${basename(r.dbFile)}.${randomBytes(6).toString('hex')}.tmp`)
  copyFileSync(r.from, tmp)
  syncFile(tmp, fileMode)
  const aside = `${r.dbFile}.before-restore-${snapshotTimestamp(now)}`
  const moved: string[] = []
  for (const suffix of ['', '-wal', '-shm']) {
    if (existsSync(`${r.dbFile}${suffix}`)) {
      // Same suffixes on the new name: the old database opens with its own WAL if anyone needs it back.
      renameSync(`${r.dbFile}${suffix}`, `${aside}${suffix}`)
      moved.push(`${aside}${suffix}`)
    }
  }
  renameSync(tmp, r.dbFile)
  fsyncDirSync(r.dataDir)
  // Migrated to this build's schema now (as the next start would) and the restore audited in the restored chain.
  const { db } = openDb({ file: r.dbFile, fileMode, gid: r.group?.gid })
  try {
    createAuditLog(db).append(
      {
        actor: `cli:${safeUser()}`,
        action: 'collector.restore',
        target: basename(r.from),
        detail: {
          from: r.from,
          takenAt: takenAtText(r.from),
          auditHead: inspected.auditHead,
          highWater: Object.fromEntries(inspected.highWater),
          movedAside: moved,
        },
      },
      now,
    )
  } finally {
    db.close()
  }
  report(r, inspected, moved, io)
}

/** Refuses a missing, unreadable, corrupt or newer-schema file with what was wrong and what to do. */
function checkBackup(from: string): BackupInspection {
  let size: number
  try {
    const st = statSync(from)
    if (!st.isFile()) {
      throw new Error('not a regular file')
    }
    size = st.size
  } catch (e) {
    throw new BackstopError(
      'BK_ERR_RESTORE_SOURCE',
      `${from}: ${(e as Error).message}; pass --from <file> naming a backup in a selfBackup target ` +
        '(GET /api/v1/self-backup lists them)',
    )
  }
  const i = inspectBackup(from)
  if (i.integrity !== 'ok') {
    throw new BackstopError(
      'BK_ERR_RESTORE_CORRUPT',
      `${from} (${size} bytes) is damaged: ${i.integrity}; restore an older backup (each target keeps several)`,
    )
  }
  if (i.migrations.length === 0) {
    throw new BackstopError('BK_ERR_RESTORE_CORRUPT', `${from} is a SQLite file but not a collector database`)
  }
  if (!i.auditOk) {
    throw new BackstopError(
      'BK_ERR_RESTORE_CORRUPT',
      `${from}: its audit chain does not verify (${i.auditProblem ?? ''}); restore an older backup`,
    )
  }
  const known = new Set(knownMigrations())
  const newer = i.migrations.filter((m) => !known.has(m))
  if (newer.length > 0) {
    throw new BackstopError(
      'BK_ERR_RESTORE_NEWER_SCHEMA',
      `${from} has migrations this collector does not know (${newer.join(', ')}); restore it with the collector ` +
        'version that wrote it (or newer)',
    )
  }
  return i
}

function report(r: RestoreRequest, i: BackupInspection, moved: readonly string[], io: CliOut): void {
  const high = [...i.highWater].sort(([a], [b]) => a.localeCompare(b))
  io.out(`restored ${r.from} into ${r.dbFile}`)
  io.out(`  taken at:    ${takenAtText(r.from)}`)
  io.out(`  audit head:  ${i.auditHead ? `seq ${i.auditHead.seq} ${i.auditHead.hash}` : 'empty chain'}`)
  io.out(`  high-water:  ${high.length > 0 ? high.map(([n, s]) => `${n} ${s}`).join(', ') : 'no events'}`)
  io.out(
    moved.length > 0
      ? `  moved aside: ${moved.join(', ')} (not deleted; remove once the restored collector runs)`
      : '  moved aside: nothing (the data directory had no database)',
  )
  io.out(
    'next: start the collector. It republishes each node its checkpoint, never above what this database holds; ' +
      'each agent then resends every event after its checkpoint from its outbox and the ledger converges. ' +
      'Events an agent released beyond the checkpoint are lost to the collector and raise outbox-uncovered.',
  )
}

/** Every migration this build has: those an empty database gets (wherever the build put the files). */
function knownMigrations(): readonly string[] {
  const { db, migrations } = openDb({ file: ':memory:' })
  db.close()
  return migrations.applied
}

function takenAtText(from: string): string {
  const t = backupTakenAt(basename(from))
  return t ? t.toISOString() : 'unknown (not a self-backup file name)'
}

function safeUser(): string {
  try {
    return userInfo().username
  } catch {
    return `uid${process.getuid?.() ?? '?'}`
  }
}
