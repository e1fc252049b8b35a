import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, readdir, readFile, readlink, stat, unlink } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { openDataFile } from '@backstop/node-io'
import { pipeline } from 'node:stream/promises'
import type { Location } from '@backstop/shared'

/**
 * File-level helpers of the archive job: names, durable writes, sha256 manifests, and what device a directory
 * lives on. Archive names carry their UTC creation time so listing a directory is enough to apply keep-last.
 */

export interface ArchiveFile {
  readonly name: string
  readonly path: string
  readonly createdAt: Date
  /** Tie-breaker for two archives in the same second (`-2`, `-3` …). */
  readonly seq: number
}

/** `20260201T100000Z` */
export function utcStamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z')
}

export function archiveName(job: string, createdAt: Date, seq = 1): string {
  return `${job}-${utcStamp(createdAt)}${seq > 1 ? `-${seq}` : ''}.tar.gz`
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

export function parseArchiveName(job: string, name: string): { createdAt: Date; seq: number } | null {
  const m = new RegExp(
    `^${escapeRe(job)}-(\\d{4})(\\d{2})(\\d{2})T(\\d{2})(\\d{2})(\\d{2})Z(?:-(\\d+))?\\.tar\\.gz$`,
  ).exec(name)
  if (!m) {
    return null
  }
  const createdAt = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`)
  return Number.isNaN(createdAt.getTime()) ? null : { createdAt, seq: m[7] ? Number(m[7]) : 1 }
}

/** This job's archives in `dir`, newest first. Other files (other jobs, manifests, temp files) are ignored. */
export async function listArchives(dir: string, job: string): Promise<ArchiveFile[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return []
    }
    throw e
  }
  const found: ArchiveFile[] = []
  for (const name of names) {
    const p = parseArchiveName(job, name)
    if (p) {
      found.push({ name, path: join(dir, name), ...p })
    }
  }
  return found.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.seq - a.seq)
}

/**
 * 1 MiB reads, as vzdump's and rear's hashing do: with the stream default (64 KiB) a 1 GiB archive cost ~1.6 s of
 * CPU, with 1 MiB ~1.0 s (docs/benchmarks.md, agent footprint); beyond 1 MiB nothing more is gained.
 */
const HASH_READ_BYTES = 1 << 20

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256')
  await pipeline(createReadStream(path, { highWaterMark: HASH_READ_BYTES }), h)
  return h.digest('hex')
}

export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/**
 * Creates `path` empty as a data file (0600, or 0640 owned by the configured `group:`; node-io file-access.ts)
 * before tar writes to it. GNU tar opens its archive with O_CREAT|O_TRUNC and 0666 & ~umask, which keeps the mode
 * of an existing file, so the archive is never readable by other users, not even while tar writes it, whatever
 * the umask and the destination directory's mode. The archived files may include secrets only root may read:
 * only the group the operator named may read copies besides root.
 */
export async function createPrivateFile(path: string): Promise<void> {
  await (await openDataFile(path, 'wx')).close()
}

/** sha256sum's format, so `sha256sum -c <archive>.sha256` works in the destination directory. */
export function manifestLine(hash: string, name: string): string {
  return `${hash}  ${name}\n`
}

export async function readManifest(archivePath: string): Promise<string | null> {
  try {
    const text = await readFile(`${archivePath}.sha256`, 'utf8')
    const m = /^([0-9a-f]{64}) [ *](.+)$/m.exec(text)
    return m && m[2] === basename(archivePath) ? (m[1] ?? null) : null
  } catch {
    return null
  }
}

export async function removeIfExists(path: string): Promise<void> {
  try {
    await unlink(path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw e
    }
  }
}

/**
 * The device a directory lives on, from stat + /proc/self/mountinfo (no commands): `maj:min`, the mount source,
 * and the filesystem UUID when /dev/disk/by-uuid exists. Lets the collector tie a copy to a failing disk.
 */
export async function deviceOf(dir: string): Promise<NonNullable<Location['device']>> {
  const st = await stat(dir, { bigint: true })
  const major = Number(((st.dev >> 8n) & 0xfffn) | ((st.dev >> 32n) & ~0xfffn))
  const minor = Number((st.dev & 0xffn) | ((st.dev >> 12n) & ~0xffn))
  const majMin = `${major}:${minor}`
  let source: string | undefined
  try {
    const info = await readFile('/proc/self/mountinfo', 'utf8')
    for (const line of info.split('\n')) {
      const [fields, rest] = line.split(' - ')
      if (fields?.split(' ')[2] === majMin && rest) {
        source = rest.split(' ')[1]
        break
      }
    }
  } catch {
    // Not Linux, or no /proc: the maj:min is still an identity.
  }
  const device: { id: string; fsUuid?: string } = {
    id: source && source.startsWith('/dev/') ? `${source} (${majMin})` : `dev ${majMin}`,
  }
  if (source?.startsWith('/dev/')) {
    const uuid = await uuidOf(source)
    if (uuid) {
      device.fsUuid = uuid
    }
  }
  return device
}

async function uuidOf(devPath: string): Promise<string | undefined> {
  try {
    const dir = '/dev/disk/by-uuid'
    for (const uuid of await readdir(dir)) {
      if (resolve(dir, await readlink(join(dir, uuid))) === devPath) {
        return uuid
      }
    }
  } catch {
    // No udev (containers, this CI): leave it out.
  }
  return undefined
}
