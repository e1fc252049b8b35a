import type { AssetRef, DeclaredJob, JobsDeclaredBody } from '@backstop/shared'
import type { Db } from './db.ts'
import { decodeRaw, type StoredRaw } from './event-raw.ts'
import { isoOf, type EpochMs } from './iso-time.ts'

interface JobRaw {
  job: string
  job_kind: string
  schedule: string | null
  timezone: string | null
  assets: string
  targets: string
}

/** The jobs each node declared (jobs.declared), as the ledger last applied them. */
export function createDeclaredJobsRepo(db: Db) {
  const event = db.prepare<[string, string], { raw: StoredRaw }>(
    "SELECT raw FROM events WHERE node = ? AND msg_id = ? AND kind = 'jobs.declared'",
  )
  const head = db.prepare<[string], { hash: string; declared_at: string }>(
    'SELECT hash, declared_at FROM job_declarations WHERE node = ?',
  )
  const putHead = db.prepare(`INSERT INTO job_declarations (node, hash, declared_at, received_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (node) DO UPDATE SET hash = excluded.hash, declared_at = excluded.declared_at,
    received_at = excluded.received_at`)
  const dropJobs = db.prepare('DELETE FROM declared_jobs WHERE node = ?')
  const putJob = db.prepare(`INSERT INTO declared_jobs (node, job, job_kind, schedule, timezone, assets, targets)
    VALUES (?, ?, ?, ?, ?, ?, ?)`)
  const jobs = db.prepare<[string], JobRaw>('SELECT * FROM declared_jobs WHERE node = ? ORDER BY job')
  return {
    /** The body of a stored jobs.declared event (schema-checked when it was ingested). */
    bodyOf(node: string, msgId: string): JobsDeclaredBody | undefined {
      const r = event.get(node, msgId)
      return r === undefined ? undefined : (JSON.parse(decodeRaw(r.raw)) as { body: JobsDeclaredBody }).body
    },
    /**
     * Makes `body` the node's declaration unless the stored one is newer (events can arrive out of order after a
     * reconnect). Returns the jobs declared before, or null when `body` was not applied.
     */
    replace(node: string, body: JobsDeclaredBody, now: EpochMs): DeclaredJob[] | null {
      const h = head.get(node)
      if (h !== undefined && Date.parse(h.declared_at) > Date.parse(body.at)) {
        return null
      }
      const before = this.jobsOf(node)
      putHead.run(node, body.hash, body.at, isoOf(now))
      dropJobs.run(node)
      for (const j of body.jobs) {
        putJob.run(
          node,
          j.name,
          j.kind,
          j.schedule ?? null,
          j.timezone ?? null,
          JSON.stringify(j.assets),
          JSON.stringify(j.targets),
        )
      }
      return before
    },
    jobsOf(node: string): DeclaredJob[] {
      return jobs.all(node).map((r) => ({
        name: r.job,
        kind: r.job_kind,
        ...(r.schedule !== null ? { schedule: r.schedule } : {}),
        ...(r.timezone !== null ? { timezone: r.timezone } : {}),
        assets: JSON.parse(r.assets) as AssetRef[],
        targets: JSON.parse(r.targets) as string[],
      }))
    },
  }
}
export type DeclaredJobsRepo = ReturnType<typeof createDeclaredJobsRepo>
