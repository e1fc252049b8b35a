import { tierPolicies, type Tier, type TierPolicy } from '@backstop/shared'

/** The ledger's knobs. Every field has a default so the collector runs with no ledger section in its config. */
export interface LedgerConfig {
  readonly policies: Record<Tier, TierPolicy>
  /** Tier of an asset the first time it is seen; change per asset through the API. */
  readonly defaultTier: Tier
  /** Expectation created automatically for (node, job, asset) on the first run: daily + 1 h grace. */
  readonly defaultPeriodS: number
  readonly defaultGraceS: number
  /** A node whose last heartbeat is older than this is down even without an LWT (a half-open TCP session). */
  readonly nodeTimeoutS: number
  /**
   * An offline status (Last Will or a graceful stop) becomes a node-down alert only if the node is not back after
   * this long: a restart or a network blip says nothing. Lost nodes page critical, stopped ones warning.
   */
  readonly nodeDownAfterS: number
  /** After a node returns, its asset alerts stay folded this long so its catch-up runs can finish first. */
  readonly catchUpGraceS: number
  /** Below this severity flips are recorded and published but not sent to notification channels. */
  readonly notifyMinSeverity: 'info' | 'warning' | 'critical'
  /**
   * Node roles (agent `role:`) that must have a bare-metal image (a rear job): a node of such a role without one
   * raises a coverage alert. A node that names no role counts as `server`. YAML: `coverage.bareMetalImageRoles`.
   */
  readonly bareMetalImageRoles: readonly string[]
}

/** Hypervisors and servers are rebuilt from a bare-metal image; workstations and appliances need not be. */
export const DEFAULT_BARE_METAL_IMAGE_ROLES: readonly string[] = ['hypervisor', 'server']

export function ledgerConfig(
  over: Partial<Omit<LedgerConfig, 'policies'>> & { policies?: Parameters<typeof tierPolicies>[0] } = {},
): LedgerConfig {
  return {
    defaultTier: over.defaultTier ?? 'standard',
    defaultPeriodS: over.defaultPeriodS ?? 86400,
    defaultGraceS: over.defaultGraceS ?? 3600,
    nodeTimeoutS: over.nodeTimeoutS ?? 600,
    nodeDownAfterS: over.nodeDownAfterS ?? 600,
    catchUpGraceS: over.catchUpGraceS ?? over.defaultGraceS ?? 3600,
    notifyMinSeverity: over.notifyMinSeverity ?? 'warning',
    bareMetalImageRoles: over.bareMetalImageRoles ?? DEFAULT_BARE_METAL_IMAGE_ROLES,
    policies: tierPolicies(over.policies),
  }
}
