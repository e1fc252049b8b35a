import type { Exec } from '../exec/exec.ts'

/**
 * blkid(8) in `-o export` form: `KEY=value` lines, one blank-line-separated block per device, DEVNAME first
 * (util-linux misc-utils/blkid.c `print_value` with OUTPUT_EXPORT_LIST). `-c /dev/null` bypasses the cache
 * file so the answer is a fresh probe — the only way to find a label when udev (and /dev/disk/by-label) is
 * absent. Exit 2 = no device matched the token (blkid.c: BLKID_EXIT_NOTFOUND).
 */
export interface BlkidDevice {
  readonly devname: string
  readonly label?: string
  readonly uuid?: string
  readonly type?: string
  readonly partuuid?: string
}

export function parseBlkidExport(text: string): BlkidDevice[] {
  const out: BlkidDevice[] = []
  for (const block of text.split(/\n\s*\n/)) {
    const kv = new Map<string, string>()
    for (const line of block.split('\n')) {
      const i = line.indexOf('=')
      if (i > 0) {
        kv.set(line.slice(0, i).trim(), unescapeExport(line.slice(i + 1).trim()))
      }
    }
    const devname = kv.get('DEVNAME')
    if (!devname) {
      continue
    }
    const d: { -readonly [K in keyof BlkidDevice]: BlkidDevice[K] } = { devname }
    for (const [key, field] of [
      ['LABEL', 'label'],
      ['UUID', 'uuid'],
      ['TYPE', 'type'],
      ['PARTUUID', 'partuuid'],
    ] as const) {
      const v = kv.get(key)
      if (v !== undefined) {
        d[field] = v
      }
    }
    out.push(d)
  }
  return out
}

/** blkid escapes unsafe characters in export mode with a backslash (blkid.c `safe_print`). */
function unescapeExport(v: string): string {
  return v.replace(/\\(.)/g, '$1')
}

/** Devices whose filesystem label is `label`, by fresh probe. Empty when none (exit 2). */
export async function findByLabel(exec: Exec, label: string): Promise<BlkidDevice[]> {
  const r = await exec.run(['blkid', '-c', '/dev/null', '-o', 'export', '-t', `LABEL=${label}`], { timeoutMs: 30_000 })
  if (r.exitCode === 2) {
    return []
  }
  return parseBlkidExport(r.stdout)
}

/** Probe one device (label, UUID, type). Undefined when it has no recognisable filesystem. */
export async function probeDevice(exec: Exec, devname: string): Promise<BlkidDevice | undefined> {
  const r = await exec.run(['blkid', '-c', '/dev/null', '-o', 'export', devname], { timeoutMs: 30_000 })
  return r.exitCode === 0 ? parseBlkidExport(r.stdout)[0] : undefined
}

/**
 * Every filesystem on this host's block devices, by fresh probe: their UUIDs where lsblk has none (no udev).
 * Empty when none (exit 2).
 */
export async function listFilesystems(exec: Exec): Promise<BlkidDevice[]> {
  const r = await exec.run(['blkid', '-c', '/dev/null', '-o', 'export'], { timeoutMs: 30_000 })
  return r.exitCode === 0 ? parseBlkidExport(r.stdout) : []
}
