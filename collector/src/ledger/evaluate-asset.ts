import { alertKey, evaluateAsset, severityForTier, type AssetExemption } from '@backstop/shared'
import type { AssetKey } from '../store/ledger-assets-repo.ts'
import type { LedgerContext } from './context.ts'

/** Re-evaluates one asset's 3-2-1-1-0 verdict from its live copies, stores it, and raises/resolves its alert. */
export function refreshVerdict(ctx: LedgerContext, k: AssetKey, now: number): void {
  ctx.assets.ensure(k, null, ctx.config.defaultTier, now)
  const row = ctx.assets.get(k)
  if (row === undefined) {
    return
  }
  const copies = ctx.assets.copies(k)
  // Only media their host reports detached can be plugged in elsewhere: look those up in the nodes' inventories.
  const detached = copies.flatMap((c) => (c.storage?.attached === false && c.storage.fsUuid ? [c.storage.fsUuid] : []))
  const facts = {
    tier: row.tier,
    lifecycle: row.lifecycle,
    productionMedia: row.productionMedia ?? undefined,
    productionLocationKey: row.productionLocation ?? undefined,
    productionStorage: ctx.assets.productionStorage(k),
    mediumSites: ctx.assets.mediumSites(),
    mediaSeen: detached.length > 0 ? ctx.assets.mediaSeen(detached) : undefined,
    loginsFromProduction: copies.some((c) => c.storage?.immutability?.kind === 'pull-replica')
      ? ctx.assets.loginsFrom(k.node)
      : undefined,
    exemption: row.exemption ?? undefined,
  }
  const v = evaluateAsset(facts, copies, ctx.config.policies[row.tier], now, ctx.deviceHealth(k.node))
  ctx.assets.saveVerdict(k, v, now)
  const label = `${k.kind} ${k.id} on ${k.node}`
  ctx.alerts.raise(
    {
      key: alertKey('non-compliant', k.node, `${k.kind}/${k.id}`),
      kind: 'non-compliant',
      node: k.node,
      severity: severityForTier(row.tier),
      firing: v.status === 'non-compliant',
      summary:
        v.status === 'non-compliant'
          ? `${label} breaks 3-2-1-1-0 (${row.tier}): ${v.reasons.map((r) => r.message).join('; ')}`
          : row.exemption !== null
            ? `${label} is ${v.status}: ${exemptionText(row.exemption)}`
            : `${label} is ${v.status}`,
    },
    now,
  )
  if (row.verdict !== v.status || row.evaluatedAt === 0) {
    ctx.telemetry?.verdict({
      node: k.node,
      kind: k.kind,
      id: k.id,
      tier: row.tier,
      status: v.status,
      counts: v.counts as unknown as Record<string, number | null>,
      at: now,
    })
  }
}

/** "intentionally unprotected: <why> (marked by <who> at <when>)", for the alert that the mark resolves. */
function exemptionText(e: AssetExemption): string {
  return `intentionally unprotected: ${e.reason} (marked by ${e.actor} at ${new Date(e.at).toISOString()})`
}
