import type { MediaType } from '../schemas/copy.ts'
import type { StorageIdentity } from '../schemas/storage.ts'

/**
 * 3-2-1-1-0 thresholds per protection tier. "Copies" are counted per distinct location (30 snapshots on one
 * pool are one copy, not thirty), and production counts as one of them. All durations are seconds.
 */
export const tiers = ['critical', 'standard', 'low'] as const
export type Tier = (typeof tiers)[number]

export interface TierPolicy {
  /** Distinct locations holding a good copy, production included (the "3"). */
  readonly minCopies: number
  /** Distinct media types among production and the counted copies (the "2"). */
  readonly minMediaTypes: number
  /** Counted copies that are offsite (the first "1"). */
  readonly minOffsite: number
  /** Counted copies that are offline or immutable (the second "1"). */
  readonly minOfflineOrImmutable: number
  /** Live copies whose last verification failed (the "0"). */
  readonly maxVerificationErrors: number
  /** When true, at least one counted copy must have passed verification (the "0" demonstrated, not assumed). */
  readonly requireVerifiedCopy: boolean
  /** The newest counted copy of any kind must be younger than this. */
  readonly rpoS: number
  /** The newest counted offsite copy must be younger than this (only checked when minOffsite > 0). */
  readonly offsiteRpoS: number
  /** The newest counted offline/immutable copy must be younger than this (only when that rule applies). */
  readonly offlineRpoS: number
}

const HOUR = 3600
const DAY = 24 * HOUR

/** Daily backups plus two hours of slack; weekly offsite rotation; monthly offline media for the lower tiers. */
export const defaultTierPolicies: Readonly<Record<Tier, TierPolicy>> = {
  critical: {
    minCopies: 3,
    minMediaTypes: 2,
    minOffsite: 1,
    minOfflineOrImmutable: 1,
    maxVerificationErrors: 0,
    requireVerifiedCopy: true,
    rpoS: 26 * HOUR,
    offsiteRpoS: 2 * DAY,
    offlineRpoS: 8 * DAY,
  },
  standard: {
    minCopies: 3,
    minMediaTypes: 2,
    minOffsite: 1,
    minOfflineOrImmutable: 1,
    maxVerificationErrors: 0,
    requireVerifiedCopy: false,
    rpoS: 26 * HOUR,
    offsiteRpoS: 8 * DAY,
    offlineRpoS: 32 * DAY,
  },
  low: {
    minCopies: 2,
    minMediaTypes: 1,
    minOffsite: 0,
    minOfflineOrImmutable: 0,
    maxVerificationErrors: 0,
    requireVerifiedCopy: false,
    rpoS: 8 * DAY,
    offsiteRpoS: 32 * DAY,
    offlineRpoS: 32 * DAY,
  },
}

/** Overrides from configuration merged over the defaults, tier by tier. */
export function tierPolicies(overrides: Partial<Record<Tier, Partial<TierPolicy>>> = {}): Record<Tier, TierPolicy> {
  return {
    critical: { ...defaultTierPolicies.critical, ...overrides.critical },
    standard: { ...defaultTierPolicies.standard, ...overrides.standard },
    low: { ...defaultTierPolicies.low, ...overrides.low },
  }
}

export const assetLifecycles = ['active', 'archived', 'decommissioned'] as const
export type AssetLifecycle = (typeof assetLifecycles)[number]

export const deviceHealths = ['ok', 'degraded', 'failed', 'unknown'] as const
export type DeviceHealth = (typeof deviceHealths)[number]

/** One row of the copy ledger as the verdict needs it. Times are epoch milliseconds. */
export interface LedgerCopy {
  readonly copyId: string
  /** Identity of the place the copy lives (node + location kind + target, or the device id when known). */
  readonly locationKey: string
  /** Key into the device-health map (serial / fs uuid); absent when the agent could not tell. */
  readonly deviceKey?: string | undefined
  readonly media: MediaType
  /** What the operator's config typed (old agents); the verdict never counts these without probed storage. */
  readonly offsite: boolean
  readonly offline: boolean
  readonly immutable: boolean
  /** Snapshot or file name, to name the copy in reasons. */
  readonly name?: string | undefined
  /** The probed failure domain; absent from old agents (judged by location key alone). */
  readonly storage?: StorageIdentity | undefined
  /** When the collector last received this copy's report (its storage probe is that recent). */
  readonly reportedAt?: number | undefined
  readonly createdAt: number
  readonly verification: 'verified' | 'failed' | 'unverified'
  /** Set once the agent reported the copy deleted; deleted copies never count. */
  readonly deletedAt?: number | undefined
}

/** An operator marked the asset intentionally unprotected (audited as asset.exempt): who, when (epoch ms), why. */
export interface AssetExemption {
  readonly reason: string
  readonly actor: string
  readonly at: number
}

/** An operator's rotation record (audited): the medium with this fsUuid was carried to `site` at `recordedAt`. */
export interface MediumSite {
  readonly site: string
  readonly recordedAt: number
}

/** A node's latest inventory lists a filesystem with this UUID among its block devices: plugged in there. */
export interface MediumSeen {
  readonly node: string
  /** The inventory's own time. */
  readonly at: number
}

export interface AssetFacts {
  readonly tier: Tier
  readonly lifecycle: AssetLifecycle
  /** Media of the live data, counted as one copy and one media type when known. */
  readonly productionMedia?: MediaType | undefined
  /** Location of the live data: snapshots there share its failure domain and count as production. */
  readonly productionLocationKey?: string | undefined
  /** Where the live data physically is (job.finished `sources`): its devices make copies there versions. */
  readonly productionStorage?: StorageIdentity | undefined
  /** Operator rotation records: fsUuid (lower case) → the site that medium was carried to, and when. */
  readonly mediumSites?: Readonly<Record<string, MediumSite>> | undefined
  /**
   * Removable media of this asset's copies found plugged into a node by its latest inventory: fsUuid (lower case) →
   * every such node. A medium is offline only while detached from every host of the fleet.
   */
  readonly mediaSeen?: Readonly<Record<string, readonly MediumSeen[]>> | undefined
  /**
   * The nodes on which an ssh key held by this asset's node is authorized (the nodes' inventories): a replica such a
   * node pulled is not immutable — the source can log in there and delete it.
   */
  readonly loginsFromProduction?: readonly string[] | undefined
  /** Marked intentionally unprotected: the verdict is `exempt` whatever its copies, and never pages. */
  readonly exemption?: AssetExemption | undefined
}
