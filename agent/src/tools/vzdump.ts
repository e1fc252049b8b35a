import { DateTime } from 'luxon'

/**
 * vzdump facts the agent depends on (pve-manager PVE/VZDump.pm, pve-docs vzdump.adoc):
 *  - file archives are named `vzdump-<qemu|lxc>-<vmid>-YYYY_MM_DD-HH_MM_SS.<vma|tar>[.zst|.gz|.lzo]` with the
 *    **local** time of the node (`strftime("%Y_%m_%d-%H_%M_%S", localtime)` in `exec_backup_task`), written as
 *    `.dat` and renamed at the end; the task log sits next to it as `<basename>.log`, notes as `<archive>.notes`,
 *    protection as `<basename>.protected`;
 *  - on a Proxmox Backup Server storage the backup is a snapshot `vm/<vmid>/<YYYY-MM-DDTHH:MM:SSZ>` (LXC: `ct/…`)
 *    in **UTC** (`strftime("%FT%TZ", gmtime)`).
 */
export type GuestType = 'qemu' | 'lxc'

export interface ArchiveName {
  readonly vmtype: GuestType
  readonly vmid: number
  /** The instant, from the node-local timestamp in the name. */
  readonly createdAt: Date
  /** `vma.zst`, `tar.gz`, `vma` … */
  readonly ext: string
  readonly compression: 'zst' | 'gz' | 'lzo' | null
}

const ARCHIVE_RE =
  /^vzdump-(qemu|lxc)-(\d+)-(\d{4})_(\d{2})_(\d{2})-(\d{2})_(\d{2})_(\d{2})\.(vma|tar)(?:\.(zst|gz|lzo))?$/

/**
 * Parses a finished archive's file name (not `.dat`/`.tmp`/`.log`). `timezone` is the node's zone (IANA).
 * In the repeated hour when DST ends, the earlier instant is taken (luxon's default; vzdump writes nothing
 * that would disambiguate it). Null for anything that is not a vzdump archive.
 */
export function parseArchiveName(basename: string, timezone: string): ArchiveName | null {
  const m = ARCHIVE_RE.exec(basename)
  if (!m) {
    return null
  }
  const [y, mo, d, h, mi, s] = m.slice(3, 9).map(Number) as [number, number, number, number, number, number]
  const local = DateTime.fromObject({ year: y, month: mo, day: d, hour: h, minute: mi, second: s }, { zone: timezone })
  if (!local.isValid || local.hour !== h) {
    // Invalid date, or a wall-clock time that does not exist (skipped by DST): not a name vzdump wrote.
    return null
  }
  const compression = (m[10] ?? null) as ArchiveName['compression']
  return {
    vmtype: m[1] as GuestType,
    vmid: Number(m[2]),
    createdAt: local.toJSDate(),
    ext: compression ? `${m[9]}.${compression}` : m[9]!,
    compression,
  }
}

/** The archive name vzdump would write for a guest at `at` in `timezone` (used by the fake and by tests). */
export function formatArchiveName(
  vmtype: GuestType,
  vmid: number,
  at: Date,
  timezone: string,
  compress: 'zstd' | 'gzip' | 'lzo' | null,
): string {
  const ts = DateTime.fromJSDate(at, { zone: timezone }).toFormat('yyyy_LL_dd-HH_mm_ss')
  const base = `vzdump-${vmtype}-${vmid}-${ts}.${vmtype === 'qemu' ? 'vma' : 'tar'}`
  return compress === null ? base : `${base}.${compress === 'zstd' ? 'zst' : compress === 'gzip' ? 'gz' : 'lzo'}`
}

export interface PbsSnapshotName {
  readonly group: 'vm' | 'ct'
  readonly vmid: number
  readonly createdAt: Date
}

const PBS_RE = /^(vm|ct)\/(\d+)\/(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)$/

export function parsePbsSnapshot(name: string): PbsSnapshotName | null {
  const m = PBS_RE.exec(name)
  if (!m) {
    return null
  }
  const createdAt = new Date(m[3]!)
  return Number.isNaN(createdAt.getTime()) ? null : { group: m[1] as 'vm' | 'ct', vmid: Number(m[2]), createdAt }
}

/** The companion files vzdump writes next to an archive (deleted with it by pruning). */
export function companionFiles(archive: string): string[] {
  const base = archive.replace(/\.(vma|tar)(\.(zst|gz|lzo))?$/, '')
  return [`${base}.log`, `${archive}.notes`, `${base}.protected`]
}

export interface VzdumpArgs {
  /** Explicit guests, or `all` (with `exclude`), or a `pool`. */
  readonly selection:
    | { readonly vmids: readonly number[] }
    | { readonly all: true; readonly exclude: readonly number[] }
    | { readonly pool: string }
  readonly mode: 'snapshot' | 'suspend' | 'stop'
  readonly compress: 'zstd' | 'gzip' | 'lzo' | '0'
  readonly target: { readonly storage: string } | { readonly dumpdir: string }
  readonly notesTemplate?: string | undefined
  /** KiB/s (vzdump's unit). */
  readonly bwlimitKiB?: number | undefined
  readonly zstdThreads?: number | undefined
  readonly script?: string | undefined
}

/**
 * argv for `vzdump` (vzdump(1): `vzdump {<vmid>} [OPTIONS]`). Always `--remove 0`: PVE's own storage retention
 * never deletes behind our back; the agent's GFS policy decides (jobs/vzdump/archives.ts).
 * `--notes-template` requires `--storage` (vzdump.1: "Requires option(s): storage").
 */
export function vzdumpArgv(a: VzdumpArgs): string[] {
  const argv = ['vzdump']
  if ('vmids' in a.selection) {
    argv.push(...a.selection.vmids.map(String))
  } else if ('all' in a.selection) {
    argv.push('--all', '1')
    if (a.selection.exclude.length > 0) {
      argv.push('--exclude', a.selection.exclude.join(','))
    }
  } else {
    argv.push('--pool', a.selection.pool)
  }
  argv.push('--mode', a.mode, '--compress', a.compress)
  if (a.compress === 'zstd' && a.zstdThreads !== undefined) {
    argv.push('--zstd', String(a.zstdThreads))
  }
  if ('storage' in a.target) {
    argv.push('--storage', a.target.storage)
    if (a.notesTemplate !== undefined) {
      argv.push('--notes-template', a.notesTemplate)
    }
  } else {
    argv.push('--dumpdir', a.target.dumpdir)
  }
  if (a.bwlimitKiB !== undefined) {
    argv.push('--bwlimit', String(a.bwlimitKiB))
  }
  argv.push('--remove', '0')
  if (a.script !== undefined) {
    argv.push('--script', a.script)
  }
  return argv
}
