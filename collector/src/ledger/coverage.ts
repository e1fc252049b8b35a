import { alertKey } from '@backstop/shared'
import { createCoverageRepo } from '../store/coverage-repo.ts'
import type { LedgerContext } from './context.ts'
import { judgeCoverage } from './coverage-rules.ts'
import { refreshVerdict } from './evaluate-asset.ts'

/**
 * Coverage gaps: an asset the node has that no job covers, or a node of a role that needs a bare-metal image
 * without one (ledger/coverage-rules.ts). Covered assets get a verdict and expectations.
 */
export function createCoverageCheck(
  ctx: LedgerContext,
  ensureExpectation: (node: string, job: string, kind: string, id: string, now: number) => void,
) {
  const coverage = createCoverageRepo(ctx.db)
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
    const finding = judgeCoverage({
      node,
      kind,
      id,
      present: row.present === 1,
      coveredBy,
      role: coverage.node(node)?.role ?? null,
      exemptReason: coverage.exemption({ node, kind, id })?.reason ?? null,
      bareMetalImageRoles: ctx.config.bareMetalImageRoles,
    })
    ctx.alerts.raise(
      {
        key: alertKey('coverage-gap', node, `${kind}/${id}`),
        kind: 'coverage-gap',
        node,
        severity: 'warning',
        firing: finding.firing,
        summary: finding.summary,
      },
      now,
    )
    if (finding.status === 'covered') {
      ctx.assets.ensure({ node, kind, id }, row.name, ctx.config.defaultTier, now)
      for (const job of coveredBy) {
        ensureExpectation(node, job, kind, id, now)
      }
      refreshVerdict(ctx, { node, kind, id }, now)
    }
  }
}
