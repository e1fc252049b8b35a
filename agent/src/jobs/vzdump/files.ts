import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileDurable } from '@backstop/node-io'

/** sha256 of a file, streamed (archives are many GB). */
export async function sha256File(path: string, signal?: AbortSignal): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, ...(signal ? { signal } : {}) })) {
    hash.update(chunk as Buffer)
    bytes += (chunk as Buffer).length
  }
  return { sha256: hash.digest('hex'), bytes }
}

export interface ChecksumEntry {
  readonly sha256: string
  readonly bytes: number
  /** When the agent hashed it (right after it was written). */
  readonly at: string
}

/**
 * Checksums of the archives this job wrote, kept in its state dir so later runs report the same value for the
 * same copy (and a re-hash can detect bit rot) without reading every archive again.
 */
export class ChecksumStore {
  private constructor(
    private readonly file: string,
    private readonly entries: Record<string, ChecksumEntry>,
  ) {}

  static async open(stateDir: string): Promise<ChecksumStore> {
    const file = join(stateDir, 'checksums.json')
    try {
      return new ChecksumStore(file, JSON.parse(await readFile(file, 'utf8')) as Record<string, ChecksumEntry>)
    } catch {
      return new ChecksumStore(file, {})
    }
  }

  get(path: string): ChecksumEntry | undefined {
    return this.entries[path]
  }

  set(path: string, e: ChecksumEntry): void {
    this.entries[path] = e
  }

  delete(path: string): void {
    delete this.entries[path]
  }

  /** Durable replace, so a crash or power cut leaves the old cache or the new, never a half-written file. */
  async save(): Promise<void> {
    await writeFileDurable(this.file, JSON.stringify(this.entries, null, 1))
  }
}
