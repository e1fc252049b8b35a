import { alertKey } from '@backstop/shared'
import { createRunApplier } from './apply-runs.ts'
import type { LedgerChange } from '../store/ledger-changes-repo.ts'
import type { LedgerContext } from './context.ts'
import { refreshVerdict } from './evaluate-asset.ts'
import type { NodeLiveness } from './node-liveness.ts'

/**
 * The one dispatcher over ledger change kinds (collector/src/store/ledger-changes-repo.ts): what the ledger does
 * with each change the ingest marked. A new kind fails compilation here until it has a case.
 */
export function createChangeApplier(ctx: LedgerContext, liveness: NodeLiveness) {
  const runs = createRunApplier(ctx)
  const coverage = createCoverageCheck(ctx, runs.ensureExpectation)
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
        default: {
          const never: never = c
          throw new Error(`unknown ledger change ${JSON.stringify(never)}`)
        }
      }
    },
  }
}

/** Coverage gaps: an asset the node has that no job covers. Covered assets get a verdict and expectations. */
function createCoverageCheck(
  ctx: LedgerContext,
  ensureExpectation: (node: string, job: string, kind: string, id: string, now: number) => void,
) {
  const inventoryRow = ctx.db.prepare<
    [string, string, string],
    { name: string | null; covered_by: string; present: number }
  >('SELECT name, covered_by, present FROM assets WHERE node = ? AND asset_kind = ? AND asset_id = ?')
  return (node: string, kind: string, id: string, now: number): void => {
    const row = inventoryRow.get(node, kind, id)
    if (row === undefined) {
      return
    }
    const coveredBy = JSON.parse(row.covered_by) as string[]
    const gap = row.present === 1 && coveredBy.length === 0
    ctx.alerts.raise(
      {
        key: alertKey('coverage-gap', node, `${kind}/${id}`),
        kind: 'coverage-gap',
        node,
        severity: 'warning',
        firing: gap,
        summary: gap
          ? `${kind} ${id} on ${node} is not covered by any backup job`
          : `${kind} ${id} on ${node} is covered or gone`,
      },
      now,
    )
    if (row.present === 1 && coveredBy.length > 0) {
      ctx.assets.ensure({ node, kind, id }, row.name, ctx.config.defaultTier, now)
      for (const job of coveredBy) {
        ensureExpectation(node, job, kind, id, now)
      }
      refreshVerdict(ctx, { node, kind, id }, now)
    }
  }
}
