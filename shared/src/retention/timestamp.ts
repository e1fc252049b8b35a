/**
 * Snapshot names carry their creation instant in one fixed, sortable UTC form: `20261122T014500Z`
 * (ISO 8601 basic format, seconds precision). UTC because local names repeat or skip an hour at every DST
 * change (sanoid#155, #188); basic format because `:` is awkward in btrfs paths and shell globs, and
 * because lexical order then equals chronological order (years 0000–9999).
 */
const PATTERN = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/

/** `20261122T014500Z` for 2026-11-22T01:45:00.xxxZ; milliseconds are dropped (truncated, never rounded up). */
export function snapshotTimestamp(date: Date): string {
  const ms = date.getTime()
  if (!Number.isFinite(ms)) {
    throw new RangeError('snapshotTimestamp: invalid Date')
  }
  const y = date.getUTCFullYear()
  if (y < 0 || y > 9999) {
    throw new RangeError(`snapshotTimestamp: year ${y} outside 0000–9999`)
  }
  const p2 = (n: number): string => String(n).padStart(2, '0')
  return (
    `${String(y).padStart(4, '0')}${p2(date.getUTCMonth() + 1)}${p2(date.getUTCDate())}` +
    `T${p2(date.getUTCHours())}${p2(date.getUTCMinutes())}${p2(date.getUTCSeconds())}Z`
  )
}

/**
 * The instant in a `snapshotTimestamp` string, or null when `s` is not exactly one (wrong shape, or a
 * calendar-impossible value such as month 13 or Feb 30). Null, not an exception: a name that is not ours is
 * simply never touched by pruning.
 */
export function parseSnapshotTimestamp(s: string): Date | null {
  const m = PATTERN.exec(s)
  if (m === null) {
    return null
  }
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number) as [number, number, number, number, number, number]
  const date = new Date(0)
  date.setUTCFullYear(y, mo - 1, d)
  date.setUTCHours(h, mi, se, 0)
  // Date normalises overflow (Feb 30 → Mar 2); a round trip exposes it.
  if (
    date.getUTCFullYear() !== y ||
    date.getUTCMonth() !== mo - 1 ||
    date.getUTCDate() !== d ||
    date.getUTCHours() !== h ||
    date.getUTCMinutes() !== mi ||
    date.getUTCSeconds() !== se
  ) {
    return null
  }
  return date
}
