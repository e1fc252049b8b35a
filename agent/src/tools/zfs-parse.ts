/**
 * Pure parsers for `zfs`/`zpool` output, each tested against recorded real output
 * (agent/test/fixtures/zfs/). `-H` means: no header, one tab between fields, `-` for "no value".
 */

export interface ZfsSnapshotInfo {
  /** `pool/ds@name` */
  readonly fullName: string
  readonly dataset: string
  /** The part after `@`. */
  readonly name: string
  /** 64-bit: kept as a decimal string (it exceeds Number.MAX_SAFE_INTEGER). Same on a received copy. */
  readonly guid: string
  /** 0 when not read (the light listing); the listing order is then createtxg order. */
  readonly createtxg: number
  /** null when not read (the light listing: our snapshots carry their time in the name). */
  readonly creation: Date | null
  /** Number of user holds; > 0 means `zfs destroy` fails with "dataset is busy". */
  readonly userrefs: number
  readonly used: number | null
  readonly referenced: number | null
  /** A tag user property when one was asked for (`backstop:tags`), null when unset or not read. */
  readonly tags: string | null
}

function splitFull(fullName: string): { dataset: string; name: string } {
  const at = fullName.indexOf('@')
  return { dataset: fullName.slice(0, at), name: fullName.slice(at + 1) }
}

const num = (v: string | undefined): number | null =>
  v === undefined || v === '-' || v === '' || !/^\d+$/.test(v) ? null : Number(v)

function toSnapshot(
  fullName: string,
  v: (prop: string) => string | undefined,
  tagProperty?: string,
): ZfsSnapshotInfo | null {
  const guid = v('guid')
  const creation = num(v('creation'))
  if (guid === undefined || !/^\d+$/.test(guid) || creation === null) {
    return null
  }
  const tags = tagProperty === undefined ? undefined : v(tagProperty)
  return {
    fullName,
    ...splitFull(fullName),
    guid,
    createtxg: num(v('createtxg')) ?? 0,
    creation: new Date(creation * 1000),
    userrefs: num(v('userrefs')) ?? 0,
    used: num(v('used')),
    referenced: num(v('referenced')),
    tags: tags === undefined || tags === '-' || tags === '' ? null : tags,
  }
}

const bySnapshotOrder = (a: ZfsSnapshotInfo, b: ZfsSnapshotInfo): number =>
  a.dataset === b.dataset
    ? a.createtxg - b.createtxg || (a.creation?.getTime() ?? 0) - (b.creation?.getTime() ?? 0)
    : a.dataset < b.dataset
      ? -1
      : 1

/**
 * `zfs get -H -p -o name,property,value <props> …` (one line per dataset × property, zfs-fuse's only exact
 * form). Lines for filesystems (no `@`) are skipped. Result: snapshots grouped by dataset, oldest first.
 */
export function parseZfsGetSnapshots(stdout: string, tagProperty?: string): ZfsSnapshotInfo[] {
  const byName = new Map<string, Map<string, string>>()
  for (const line of stdout.split('\n')) {
    const [name, prop, value] = line.split('\t')
    if (name === undefined || prop === undefined || value === undefined || !name.includes('@')) {
      continue
    }
    let m = byName.get(name)
    if (m === undefined) {
      m = new Map()
      byName.set(name, m)
    }
    m.set(prop, value)
  }
  const out: ZfsSnapshotInfo[] = []
  for (const [name, props] of byName) {
    const s = toSnapshot(name, (p) => props.get(p), tagProperty)
    if (s !== null) {
      out.push(s)
    }
  }
  return out.sort(bySnapshotOrder)
}

/** `zfs list -H -p -t snapshot -o name,<props…>,<tagProperty>` (OpenZFS): one line per snapshot. */
export function parseZfsListSnapshots(
  stdout: string,
  props: readonly string[],
  tagProperty?: string,
): ZfsSnapshotInfo[] {
  const cols = [...props, ...(tagProperty === undefined ? [] : [tagProperty])]
  const out: ZfsSnapshotInfo[] = []
  for (const line of stdout.split('\n')) {
    const [name, ...values] = line.split('\t')
    if (name === undefined || !name.includes('@') || values.length !== cols.length) {
      continue
    }
    const s = toSnapshot(name, (p) => values[cols.indexOf(p)], tagProperty)
    if (s !== null) {
      out.push(s)
    }
  }
  return out.sort(bySnapshotOrder)
}

/**
 * The light listing `zfs list -H -t snapshot -o name,userrefs[,<tagProperty>]` — what pruning needs and
 * nothing more (no `-p` needed: userrefs is a plain count). Guids are read later, only for replication
 * candidates.
 * Unordered: our snapshots are ordered by the time in their names, replication candidates by the createtxg
 * read with their guids.
 */
export function parseZfsLightList(stdout: string): ZfsSnapshotInfo[] {
  const out: ZfsSnapshotInfo[] = []
  for (const line of stdout.split('\n')) {
    const [fullName, userrefs, tags] = line.split('\t')
    if (fullName === undefined || !fullName.includes('@') || userrefs === undefined) {
      continue
    }
    out.push({
      fullName,
      ...splitFull(fullName),
      guid: '',
      createtxg: 0,
      creation: null,
      userrefs: num(userrefs) ?? 0,
      used: null,
      referenced: null,
      tags: tags === undefined || tags === '-' || tags === '' ? null : tags,
    })
  }
  return out
}

/** `zfs get -H -p -o name,property,value guid,createtxg snap…` → per snapshot. */
export function parseZfsGuids(stdout: string): Map<string, { guid: string; createtxg: number }> {
  const m = new Map<string, { guid: string; createtxg: number }>()
  for (const line of stdout.split('\n')) {
    const [name, prop, value] = line.split('\t')
    if (name === undefined || value === undefined || !/^\d+$/.test(value)) {
      continue
    }
    const cur = m.get(name) ?? { guid: '', createtxg: 0 }
    m.set(
      name,
      prop === 'guid' ? { ...cur, guid: value } : prop === 'createtxg' ? { ...cur, createtxg: Number(value) } : cur,
    )
  }
  return m
}

/** `zfs get -H -p -o value used,available <pool>` → bytes. */
export function parseZfsSpace(stdout: string): { used: number; available: number } | null {
  const [used, available] = stdout
    .trim()
    .split('\n')
    .map((l) => num(l.trim()))
  return used === null || used === undefined || available === null || available === undefined
    ? null
    : { used, available }
}

/**
 * `zfs send -nv -t <token>` (OpenZFS): libzfs prints `resume token contents:` and the token's nvlist
 * (`nvlist_print`: one tab-indented `key = value` per line, e.g. `\ttoname = rpool/data@snap`) before its estimate.
 * Null when there is no such block or it names no `toname`/`toguid` (libzfs calls that "resume token is corrupt").
 */
export function parseResumeTokenContents(
  stdout: string,
): { toname: string; toguid: string; fromguid: string | null } | null {
  const at = stdout.indexOf('resume token contents:')
  if (at < 0) {
    return null
  }
  const fields = new Map<string, string>()
  for (const m of stdout.slice(at).matchAll(/^\s+(\w+) = (.*)$/gm)) {
    if (!fields.has(m[1]!)) {
      fields.set(m[1]!, m[2]!.trim())
    }
  }
  const toname = fields.get('toname')
  const toguid = fields.get('toguid')
  return toname === undefined || toguid === undefined
    ? null
    : { toname, toguid, fromguid: fields.get('fromguid') ?? null }
}

/** `zfs holds -H [-p] snap…` (OpenZFS): `name\ttag\ttimestamp` per hold. */
export function parseZfsHolds(stdout: string): { fullName: string; tag: string }[] {
  return stdout
    .split('\n')
    .map((l) => l.split('\t'))
    .filter((f) => f.length >= 2 && (f[0] ?? '').includes('@'))
    .map((f) => ({ fullName: f[0]!, tag: f[1]! }))
}

export type PoolHealth = 'ONLINE' | 'DEGRADED' | 'FAULTED' | 'OFFLINE' | 'REMOVED' | 'UNAVAIL' | 'SUSPENDED' | 'UNKNOWN'

export interface ZpoolStatus {
  readonly pool: string
  readonly state: PoolHealth
  /** `status:` paragraph, when the pool has one (problem pools only). */
  readonly status: string | null
  readonly scrub: {
    readonly state: 'none' | 'running' | 'finished' | 'canceled' | 'unknown'
    readonly errors: number | null
    readonly text: string
  }
  /** `errors:` line: "No known data errors" → 0, otherwise the line is kept and counted as 1+. */
  readonly dataErrors: { readonly ok: boolean; readonly text: string }
  /** Leaf vdev paths (files, /dev/… disks) for the device identity of a copy. */
  readonly devices: readonly string[]
}

const healthStates = ['ONLINE', 'DEGRADED', 'FAULTED', 'OFFLINE', 'REMOVED', 'UNAVAIL', 'SUSPENDED'] as const

/**
 * `zpool status [pool]` (full text; also what `-x` prints for a problem pool). Handles the old
 * (`scrub:`) and new (`scan:`) spelling of the scrub line. Returns one entry per `pool:` block.
 */
export function parseZpoolStatus(stdout: string): ZpoolStatus[] {
  const blocks = stdout.split(/^\s*pool: /m).slice(1)
  return blocks.map((block) => {
    const lines = block.split('\n')
    const pool = (lines[0] ?? '').trim()
    const field = (key: string): string | null => {
      const i = lines.findIndex((l) => l.trimStart().startsWith(`${key}:`))
      if (i < 0) {
        return null
      }
      const parts = [
        (lines[i] ?? '')
          .trimStart()
          .slice(key.length + 1)
          .trim(),
      ]
      for (
        let j = i + 1;
        j < lines.length && /^\t(?!\t)|^ {8}/.test(lines[j] ?? '') && !/^\s*\w+:/.test(lines[j] ?? '');
        j++
      ) {
        parts.push((lines[j] ?? '').trim())
      }
      return parts.join(' ')
    }
    const stateText = field('state') ?? ''
    const state = (healthStates as readonly string[]).includes(stateText) ? (stateText as PoolHealth) : 'UNKNOWN'
    const scanText = field('scan') ?? field('scrub') ?? ''
    const scrubErrors = /with (\d+) errors/.exec(scanText)
    const scrubState = /none requested/.test(scanText)
      ? 'none'
      : /in progress/.test(scanText)
        ? 'running'
        : /(completed|repaired)/.test(scanText)
          ? 'finished'
          : /cancel/.test(scanText)
            ? 'canceled'
            : 'unknown'
    const errorsText = field('errors') ?? ''
    const devices = lines
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => (f[0] ?? '').startsWith('/') && f.length >= 2)
      .map((f) => f[0]!)
    return {
      pool,
      state,
      status: field('status'),
      scrub: { state: scrubState, errors: scrubErrors ? Number(scrubErrors[1]) : null, text: scanText },
      dataErrors: { ok: /No known data errors/i.test(errorsText), text: errorsText },
      devices,
    }
  })
}

/** `zpool status -x`: true when it reports every (or the named) pool healthy. */
export function zpoolAllHealthy(stdout: string): boolean {
  return /all pools are healthy|pool '[^']+' is healthy/.test(stdout)
}

export interface ZpoolListRow {
  readonly name: string
  readonly size: string
  readonly allocated: string
  readonly free: string
  /** Percent used, from `capacity` (`7%` or, with `-p`, `7`). */
  readonly capacityPercent: number | null
  readonly health: PoolHealth
  readonly guid: string | null
}

/** `zpool list -H -o name,size,allocated,free,capacity,health[,guid]`. */
export function parseZpoolList(stdout: string): ZpoolListRow[] {
  return stdout
    .split('\n')
    .filter((l) => l.includes('\t'))
    .map((l) => {
      const [name = '', size = '', allocated = '', free = '', cap = '', health = '', guid] = l.split('\t')
      const c = /^(\d+)%?$/.exec(cap)
      return {
        name,
        size,
        allocated,
        free,
        capacityPercent: c ? Number(c[1]) : null,
        health: (healthStates as readonly string[]).includes(health) ? (health as PoolHealth) : 'UNKNOWN',
        guid: guid === undefined || guid === '-' ? null : guid,
      }
    })
}
