import {
  missedSlot,
  nextRunAfter,
  planRetention,
  type RetentionDecision,
  type RetentionPolicy,
  type Schedule,
} from '@backstop/shared'
import { backupTakenAt } from './backup-file.ts'

/**
 * Pure decisions of the self-backup (no I/O, `now` passed in): which slot is next, whether a slot was missed while
 * the collector was down, when a target is overdue, and which backup files the GFS keep removes.
 */

/** The next slot strictly after `now` (epoch ms), or null for an expression that never fires again. */
export function nextSlot(s: Schedule, now: number): number | null {
  return nextRunAfter(s, new Date(now))?.getTime() ?? null
}

/** True when a slot passed since `last` (the newest backup attempt) without one: catch up at once, once. */
export function slotMissed(s: Schedule, last: number | null, now: number): boolean {
  return last === null || missedSlot(s, new Date(last), new Date(now)) !== null
}

/**
 * When a target becomes overdue: the first slot after its newest verified backup (or after `since`, the start of
 * watching, when it has none), plus `graceMs` for the backup and its check to finish.
 */
export function overdueAt(s: Schedule, lastVerifiedAt: number | null, since: number, graceMs: number): number | null {
  const slot = nextSlot(s, lastVerifiedAt ?? since)
  return slot === null ? null : slot + graceMs
}

/**
 * GFS keep over the backup files of one target (names that are not backup files are never touched). A file the
 * collector recorded as failed its check is not successful: it neither fills a keep rule nor outlives a newer good
 * backup. One it has no record of (written before a restore) is taken as good: it was checked when it was written.
 */
export function planTargetRetention(
  files: readonly string[],
  failed: ReadonlySet<string>,
  policy: RetentionPolicy,
  now: number,
): RetentionDecision[] {
  const snaps = files.flatMap((file) => {
    const createdAt = backupTakenAt(file)
    return createdAt === null ? [] : [{ id: file, createdAt, held: false, successful: !failed.has(file) }]
  })
  return planRetention(snaps, policy, new Date(now))
}
