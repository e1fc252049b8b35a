import type { ErrorCode } from '@backstop/shared'

/**
 * Pure parsers over restic's output (fixtures in agent/test/fixtures/restic/, recorded from Debian's 0.14). restic's
 * docs warn that "new message types or fields may be added at any time": every reader here takes what it knows,
 * ignores the rest, and never throws on a line it does not understand.
 */

export interface ResticVersion {
  readonly major: number
  readonly minor: number
  readonly patch: number
}

/** `restic 0.14.0 compiled with go1.19.8 on linux/amd64` → 0.14.0; null when the line is not restic's. */
export function parseResticVersion(text: string): ResticVersion | null {
  const m = /^restic (\d+)\.(\d+)\.(\d+)/m.exec(text)
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) } : null
}

export function atLeast(v: ResticVersion, major: number, minor: number, patch = 0): boolean {
  return v.major !== major ? v.major > major : v.minor !== minor ? v.minor > minor : v.patch >= patch
}

/** One `backup --json` stdout line: progress or the final summary; anything else is `other`. */
export type BackupLine =
  | { readonly type: 'status'; readonly percent: number; readonly bytesDone: number; readonly totalBytes: number }
  | { readonly type: 'summary'; readonly snapshotId: string; readonly bytesProcessed: number; readonly added: number }
  | { readonly type: 'other' }

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0)

export function parseBackupLine(line: string): BackupLine {
  let o: unknown
  try {
    o = JSON.parse(line)
  } catch {
    return { type: 'other' }
  }
  if (typeof o !== 'object' || o === null) {
    return { type: 'other' }
  }
  const r = o as Record<string, unknown>
  if (r['message_type'] === 'status') {
    const percent = Math.max(0, Math.min(1, num(r['percent_done'])))
    return { type: 'status', percent, bytesDone: num(r['bytes_done']), totalBytes: num(r['total_bytes']) }
  }
  // 0.14 writes the short id here, later versions the full one; snapshots are matched by prefix either way.
  if (r['message_type'] === 'summary' && typeof r['snapshot_id'] === 'string') {
    return {
      type: 'summary',
      snapshotId: r['snapshot_id'],
      bytesProcessed: num(r['total_bytes_processed']),
      added: num(r['data_added']),
    }
  }
  return { type: 'other' }
}

export interface ResticSnapshot {
  /** Full 64-hex id. */
  readonly id: string
  readonly shortId: string
  readonly time: Date
  readonly paths: readonly string[]
  readonly hostname: string
  readonly tags: readonly string[]
  /** From `summary` (restic ≥ 0.17); undefined before. */
  readonly bytes?: number
}

/** `snapshots --json`: entries without a usable id or time are skipped (never guessed). */
export function parseSnapshots(text: string): ResticSnapshot[] {
  let arr: unknown
  try {
    arr = JSON.parse(text)
  } catch {
    return []
  }
  if (!Array.isArray(arr)) {
    return []
  }
  const out: ResticSnapshot[] = []
  for (const o of arr as unknown[]) {
    if (typeof o !== 'object' || o === null) {
      continue
    }
    const r = o as Record<string, unknown>
    const id = r['id']
    const time = typeof r['time'] === 'string' ? new Date(r['time']) : null
    if (typeof id !== 'string' || !/^[0-9a-f]{64}$/.test(id) || time === null || Number.isNaN(time.getTime())) {
      continue
    }
    const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x) => typeof x === 'string') : [])
    const summary = r['summary'] as Record<string, unknown> | undefined
    const bytes = typeof summary === 'object' && summary !== null ? summary['total_bytes_processed'] : undefined
    out.push({
      id,
      shortId: id.slice(0, 8),
      time,
      paths: strings(r['paths']),
      hostname: typeof r['hostname'] === 'string' ? r['hostname'] : '',
      tags: strings(r['tags']),
      ...(typeof bytes === 'number' ? { bytes } : {}),
    })
  }
  return out
}

/** `cat config` → the repository id (64 hex), the identity of the repository wherever it is served from. */
export function parseRepositoryId(text: string): string | null {
  try {
    const o = JSON.parse(text) as Record<string, unknown>
    return typeof o['id'] === 'string' && /^[0-9a-f]{64}$/.test(o['id']) ? o['id'] : null
  } catch {
    return null
  }
}

/**
 * What a failed restic command means. Exit codes 10/11/12 exist from 0.17.0/0.17.1 on; before that every
 * failure is exit 1 and only the message tells (recorded 0.14 messages). An unknown code is a plain failure.
 */
export function classifyFailure(
  v: ResticVersion | null,
  exitCode: number,
  stderr: string,
): { code: ErrorCode; why: string } {
  const coded = v !== null && atLeast(v, 0, 17)
  if ((coded && exitCode === 12) || /wrong password or no key found/.test(stderr)) {
    return { code: 'BK_ERR_REPO_PASSWORD', why: 'wrong password or no key found' }
  }
  if ((coded && exitCode === 11) || /repository is already locked/.test(stderr)) {
    const who = /locked (?:exclusively )?by (.+)/.exec(stderr)?.[1]?.trim()
    return { code: 'BK_ERR_REPO_LOCKED', why: `repository is locked${who ? ` by ${who}` : ''}` }
  }
  if (/dial tcp|connection refused|no such host|i\/o timeout|network is unreachable|TLS handshake/.test(stderr)) {
    return { code: 'BK_ERR_REPO_UNREACHABLE', why: lastMeaningfulLine(stderr) }
  }
  if ((coded && exitCode === 10) || /Is there a repository at the following location/.test(stderr)) {
    return { code: 'BK_ERR_REPO_NOT_FOUND', why: lastMeaningfulLine(stderr) }
  }
  return { code: 'BK_ERR_EXEC_FAILED', why: lastMeaningfulLine(stderr) }
}

/** The first `Fatal:` line, else the first line that is not a Go stack frame. */
function lastMeaningfulLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim())
  return (
    lines.find((l) => l.startsWith('Fatal:')) ??
    lines.find((l) => l !== '' && !/^(github\.com|golang\.org|runtime|main\.)/.test(l) && !l.includes('.go:')) ??
    ''
  ).slice(0, 500)
}
