import Type from 'typebox'
import type { App, AppDeps } from '../deps.ts'

const Bucket = Type.Object({ compliant: Type.Integer(), nonCompliant: Type.Integer(), exempt: Type.Integer() })
export const FleetSummary = Type.Object({
  assets: Type.Integer(),
  compliant: Type.Integer(),
  nonCompliant: Type.Integer(),
  exempt: Type.Integer(),
  /** compliant / (compliant + non-compliant), 1 when nothing is judged */
  ratio: Type.Number(),
  byTier: Type.Object({ critical: Bucket, standard: Bucket, low: Bucket }),
  alertsFiring: Type.Integer(),
  nodesDown: Type.Array(Type.String()),
})

type Counts = { compliant: number; nonCompliant: number; exempt: number }

/** One GROUP BY over the materialised verdicts: cost independent of the number of copies. */
export function fleetSummary(deps: Pick<AppDeps, 'assets' | 'alertsRepo' | 'ledger'>) {
  const byTier: Record<'critical' | 'standard' | 'low', Counts> = {
    critical: { compliant: 0, nonCompliant: 0, exempt: 0 },
    standard: { compliant: 0, nonCompliant: 0, exempt: 0 },
    low: { compliant: 0, nonCompliant: 0, exempt: 0 },
  }
  const total: Counts = { compliant: 0, nonCompliant: 0, exempt: 0 }
  for (const r of deps.assets.summary()) {
    const k = r.verdict === 'non-compliant' ? 'nonCompliant' : r.verdict
    byTier[r.tier][k] += r.assets
    total[k] += r.assets
  }
  const judged = total.compliant + total.nonCompliant
  const alertsFiring = deps.alertsRepo.firingCounts().reduce((n, r) => n + r.n, 0)
  return {
    assets: judged + total.exempt,
    ...total,
    ratio: judged === 0 ? 1 : total.compliant / judged,
    byTier,
    alertsFiring,
    nodesDown: [...deps.ledger.downNodes()].sort(),
  }
}

export function complianceRoutes(app: App, deps: Pick<AppDeps, 'assets' | 'alertsRepo' | 'ledger'>): void {
  app.get(
    '/api/v1/compliance/summary',
    {
      schema: {
        tags: ['compliance'],
        summary: 'Fleet 3-2-1-1-0 compliance at a glance',
        response: { 200: FleetSummary },
      },
    },
    async () => fleetSummary(deps),
  )
}
