import Type from 'typebox'
import { tiers, type Tier, type TierPolicy } from '@backstop/shared'
import { ledgerConfig, type LedgerConfig } from '../ledger/config.ts'

const Seconds = (what: string) => Type.Integer({ minimum: 60, maximum: 400 * 86_400, description: `${what} (seconds)` })
const Count = Type.Integer({ minimum: 0, maximum: 20 })

/** One tier's 3-2-1-1-0 rule (shared TierPolicy); every field optional: unset ones keep the tier's default. */
const TierPolicyInput = Type.Object(
  {
    minCopies: Type.Optional(Count),
    minMediaTypes: Type.Optional(Count),
    minOffsite: Type.Optional(Count),
    minOfflineOrImmutable: Type.Optional(Count),
    maxVerificationErrors: Type.Optional(Count),
    requireVerifiedCopy: Type.Optional(Type.Boolean()),
    rpoS: Type.Optional(Seconds('newest counted copy younger than')),
    offsiteRpoS: Type.Optional(Seconds('newest offsite copy younger than')),
    offlineRpoS: Type.Optional(Seconds('newest offline or immutable copy younger than')),
  },
  { additionalProperties: false },
)

/** The `ledger:` section of the collector YAML (collector/src/ledger/config.ts); every field has a default. */
export const LedgerInput = Type.Object(
  {
    defaultTier: Type.Optional(Type.Union(tiers.map((t) => Type.Literal(t)))),
    defaultPeriodS: Type.Optional(Seconds('expected period of an automatic expectation')),
    defaultGraceS: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * 86_400 })),
    nodeTimeoutS: Type.Optional(Type.Integer({ minimum: 30, maximum: 7 * 86_400 })),
    nodeDownAfterS: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 7 * 86_400, description: 'offline this long before node-down (seconds)' }),
    ),
    catchUpGraceS: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 30 * 86_400, description: 'asset alerts folded after a return (seconds)' }),
    ),
    notifyMinSeverity: Type.Optional(
      Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')]),
    ),
    policies: Type.Optional(
      Type.Object(
        {
          critical: Type.Optional(TierPolicyInput),
          standard: Type.Optional(TierPolicyInput),
          low: Type.Optional(TierPolicyInput),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)

export interface LedgerInputValue {
  readonly defaultTier?: string
  readonly defaultPeriodS?: number
  readonly defaultGraceS?: number
  readonly nodeTimeoutS?: number
  readonly nodeDownAfterS?: number
  readonly catchUpGraceS?: number
  readonly notifyMinSeverity?: LedgerConfig['notifyMinSeverity']
  readonly policies?: Partial<Record<Tier, Record<string, number | boolean>>>
}

/** The YAML's `ledger:` section with every default filled in. */
export function resolveLedger(input: LedgerInputValue | undefined): LedgerConfig {
  const i = input ?? {}
  return ledgerConfig({
    ...(i.defaultTier !== undefined ? { defaultTier: i.defaultTier as Tier } : {}),
    ...(i.defaultPeriodS !== undefined ? { defaultPeriodS: i.defaultPeriodS } : {}),
    ...(i.defaultGraceS !== undefined ? { defaultGraceS: i.defaultGraceS } : {}),
    ...(i.nodeTimeoutS !== undefined ? { nodeTimeoutS: i.nodeTimeoutS } : {}),
    ...(i.nodeDownAfterS !== undefined ? { nodeDownAfterS: i.nodeDownAfterS } : {}),
    ...(i.catchUpGraceS !== undefined ? { catchUpGraceS: i.catchUpGraceS } : {}),
    ...(i.notifyMinSeverity !== undefined ? { notifyMinSeverity: i.notifyMinSeverity } : {}),
    ...(i.policies !== undefined ? { policies: i.policies as Partial<Record<Tier, Partial<TierPolicy>>> } : {}),
  })
}
