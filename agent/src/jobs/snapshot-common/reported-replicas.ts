import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileDurable } from '@backstop/node-io'

/**
 * The replicas a job last reported, per target and source asset, kept in its stateDir. Nobody tells the sender
 * when a replica goes away on a target it does not prune — the receiving host prunes with its own policy
 * (zfs-replicas), or an operator cleans up by hand — so a replica that was reported and is no longer listed on a
 * target that answered is reported deleted, and the collector stops counting it.
 */
export class ReportedReplicas {
  private constructor(
    private readonly file: string,
    private readonly targets: Record<string, Record<string, string[]>>,
  ) {}

  static async load(stateDir: string, job: string): Promise<ReportedReplicas> {
    const file = join(stateDir, `replicas-${job}.json`)
    try {
      const doc = JSON.parse(await readFile(file, 'utf8')) as { version?: number; targets?: unknown }
      const targets = doc.version === 1 && isRecord(doc.targets) ? doc.targets : {}
      return new ReportedReplicas(file, targets as Record<string, Record<string, string[]>>)
    } catch {
      // First run, or an unreadable file: nothing reported before, so nothing can have vanished.
      return new ReportedReplicas(file, {})
    }
  }

  /**
   * Records what a target holds now of one source asset and returns the names reported last time that are gone.
   */
  vanished(target: string, asset: string, listedNow: readonly string[]): string[] {
    const before = this.targets[target]?.[asset] ?? []
    const now = new Set(listedNow)
    this.targets[target] = { ...this.targets[target], [asset]: [...listedNow] }
    return before.filter((n) => !now.has(n))
  }

  /** Durable replace: a crash leaves the old record or the new one, never half of one. */
  async save(): Promise<void> {
    await mkdir(join(this.file, '..'), { recursive: true })
    await writeFileDurable(this.file, JSON.stringify({ version: 1, targets: this.targets }))
  }
}

/** The rule a vanished replica is reported deleted with (the same words for every kind). */
export const vanishedRule = (target: string, where: string): string =>
  `no longer on target ${target} (${where}): pruned there by its own policy, or by hand`

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
