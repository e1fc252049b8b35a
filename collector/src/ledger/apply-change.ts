import { createDeclaredJobsApplier } from './apply-declared-jobs.ts'
import { createRunApplier } from './apply-runs.ts'
import type { LedgerChange } from '../store/ledger-changes-repo.ts'
import type { LedgerContext } from './context.ts'
import { createCoverageCheck } from './coverage.ts'
import { refreshVerdict } from './evaluate-asset.ts'
import type { NodeLiveness } from './node-liveness.ts'

/**
 * The one dispatcher over ledger change kinds (collector/src/store/ledger-changes-repo.ts): what the ledger does
 * with each change the ingest marked. A new kind fails compilation here until it has a case.
 */
export function createChangeApplier(ctx: LedgerContext, liveness: NodeLiveness) {
  const runs = createRunApplier(ctx)
  const coverage = createCoverageCheck(ctx, runs.ensureExpectation)
  const declaredJobs = createDeclaredJobsApplier(ctx)
  return {
    runs,
    apply(c: LedgerChange, now: number): void {
      switch (c.kind) {
        case 'asset':
          refreshVerdict(ctx, { node: c.node, kind: c.assetKind, id: c.assetId }, now)
          return
        case 'run-started':
          runs.started(c.node, c.runId, now)
          return
        case 'run-finished':
          runs.finished(c.node, c.runId, now)
          return
        case 'inventory':
          coverage(c.node, c.assetKind, c.assetId, now)
          return
        case 'node':
          liveness.update(c.node, now)
          return
        case 'jobs-declared':
          declaredJobs(c.node, c.msgId, now)
          return
        default: {
          const never: never = c
          throw new Error(`unknown ledger change ${JSON.stringify(never)}`)
        }
      }
    },
  }
}
