import type { Copy } from '@backstop/shared'

/**
 * Tags with `runId` the copies this run created, so the collector pairs them with the run by id. A copy counts as
 * created by the run when its time is not before the run's start at whole seconds: snapshot and archive names
 * carry whole seconds, taken from the same clock after the run started, while the start keeps milliseconds.
 * Copies the run only saw (older snapshots, replicas of them) stay untagged; a tag a job set itself is kept.
 */
export function tagCreatedByRun(copies: readonly Copy[], runId: string, startedAt: Date): Copy[] {
  const startS = Math.floor(startedAt.getTime() / 1000)
  return copies.map((c) => {
    if (c.runId !== undefined) {
      return c
    }
    const createdS = Math.floor(Date.parse(c.createdAt) / 1000)
    return Number.isFinite(createdS) && createdS >= startS ? { ...c, runId } : c
  })
}
