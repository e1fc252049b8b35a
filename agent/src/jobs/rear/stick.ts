import { createHash } from 'node:crypto'
import { createReadStream, existsSync, realpathSync } from 'node:fs'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { BackstopError } from '@backstop/shared'
import type { Exec } from '../../exec/exec.ts'
import { describeFailure, succeeded } from '../../exec/exec.ts'
import { findByLabel, probeDevice } from '../../tools/blkid.ts'
import { parseRunDirName } from '../../tools/rear.ts'

/** The stick as the agent identifies it: the filesystem UUID is the identity, the label is how it is found. */
export interface Stick {
  readonly device: string
  readonly fsUuid: string | null
  readonly label: string
  readonly fsType: string | null
}

/**
 * `/dev/disk/by-label/<label>` when udev made it, else a fresh blkid probe (hosts without udev, and loop
 * devices in tests). Two attached devices with the same label is refused: writing to the wrong one is worse
 * than not writing.
 */
export async function findStick(exec: Exec, label: string, byLabelDir = '/dev/disk/by-label'): Promise<Stick | null> {
  const link = join(byLabelDir, label)
  if (existsSync(link)) {
    const device = realpathSync(link)
    const probed = await probeDevice(exec, device)
    return { device, fsUuid: probed?.uuid ?? null, label, fsType: probed?.type ?? null }
  }
  const found = await findByLabel(exec, label)
  if (found.length === 0) {
    return null
  }
  if (found.length > 1) {
    throw new BackstopError(
      'BK_ERR_USB_MEDIUM_MISSING',
      `${found.length} devices carry the label "${label}" (${found.map((f) => f.devname).join(', ')}); ` +
        `unplug all but one, or relabel (e2label <dev> REAR-001) and set the job's \`label\``,
    )
  }
  const f = found[0]!
  return { device: f.devname, fsUuid: f.uuid ?? null, label, fsType: f.type ?? null }
}

export async function mountStick(exec: Exec, stick: Stick, mountpoint: string): Promise<void> {
  const r = await exec.run(['mount', '-o', 'rw,nodev,nosuid,noexec', stick.device, mountpoint], { timeoutMs: 60_000 })
  if (!succeeded(r)) {
    throw new BackstopError(
      'BK_ERR_USB_MEDIUM_MISSING',
      `cannot mount ${stick.device} (label ${stick.label}) on ${mountpoint}: ${describeFailure(r)}`,
    )
  }
}

export async function unmountStick(exec: Exec, mountpoint: string): Promise<string | null> {
  const r = await exec.run(['umount', mountpoint], { timeoutMs: 120_000 })
  return succeeded(r) ? null : `umount ${mountpoint}: ${describeFailure(r)}`
}

export interface RunDir {
  /** `rear/<host>/<YYYYMMDD.HHMM>` relative to the stick's root. */
  readonly name: string
  readonly path: string
  readonly createdAt: Date
  /** backup.tar.gz present (mkbackup) or rescue only. */
  readonly hasBackup: boolean
}

/** Run directories of `host` on a mounted stick, oldest first. Other names (USB_SUFFIX dirs) are not ours. */
export async function listRunDirs(root: string, host: string, timezone: string): Promise<RunDir[]> {
  const base = join(root, 'rear', host)
  let names: string[]
  try {
    names = await readdir(base)
  } catch {
    return []
  }
  const out: RunDir[] = []
  for (const n of names) {
    const createdAt = parseRunDirName(n, timezone)
    const path = join(base, n)
    if (createdAt === null || !(await stat(path)).isDirectory()) {
      continue
    }
    out.push({ name: `rear/${host}/${n}`, path, createdAt, hasBackup: existsSync(join(path, 'backup.tar.gz')) })
  }
  return out.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.name.localeCompare(b.name))
}

/**
 * rear's `backup.tar.gz.md5` (backup/NETFS/default/500_make_backup.sh: `md5sum` output, "<hash>  <path>").
 * Returns null when absent; otherwise whether it matches.
 */
export async function checkRearMd5(archive: string, md5: string): Promise<{ expected: string; ok: boolean } | null> {
  let text: string
  try {
    text = await readFile(`${archive}.md5`, 'utf8')
  } catch {
    return null
  }
  const expected = text.trim().split(/\s+/)[0] ?? ''
  return { expected, ok: expected.toLowerCase() === md5.toLowerCase() }
}

/** sha256 (the copy's checksum) and md5 (rear's own backup.tar.gz.md5) in one read. */
export async function hashBoth(
  path: string,
  signal: AbortSignal,
): Promise<{ sha256: string; md5: string; bytes: number }> {
  const sha = createHash('sha256')
  const md5 = createHash('md5')
  let bytes = 0
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, signal })) {
    sha.update(chunk as Buffer)
    md5.update(chunk as Buffer)
    bytes += (chunk as Buffer).length
  }
  return { sha256: sha.digest('hex'), md5: md5.digest('hex'), bytes }
}
