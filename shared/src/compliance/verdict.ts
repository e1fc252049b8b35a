import type { MediaType } from '../schemas/copy.ts'
import type { AssetFacts, DeviceHealth, LedgerCopy, TierPolicy } from './policy.ts'

/**
 * The 3-2-1-1-0 verdict for one asset, with a reason for every rule that is not met. Pure and O(copies): the
 * collector materialises the result and re-evaluates when a copy changes or when `expiresAt` passes (the moment
 * the newest copy of some kind ages past its RPO), so the fleet summary never rescans copies.
 */
export const verdictStatuses = ['compliant', 'non-compliant', 'exempt'] as const
export type VerdictStatus = (typeof verdictStatuses)[number]

export const verdictReasonCodes = [
  'too-few-copies',
  'too-few-media',
  'no-offsite',
  'no-offline-or-immutable',
  'verification-errors',
  'never-verified',
  'stale',
  'stale-offsite',
  'stale-offline',
] as const
export type VerdictReasonCode = (typeof verdictReasonCodes)[number]

/** The rule each reason belongs to: a missing kind and a stale kind are the same rule failing two ways. */
export const verdictRules = ['copies', 'media', 'offsite', 'offline-or-immutable', 'verification'] as const
export type VerdictRule = (typeof verdictRules)[number]
const ruleOf: Record<VerdictReasonCode, VerdictRule> = {
  'too-few-copies': 'copies',
  stale: 'copies',
  'too-few-media': 'media',
  'no-offsite': 'offsite',
  'stale-offsite': 'offsite',
  'no-offline-or-immutable': 'offline-or-immutable',
  'stale-offline': 'offline-or-immutable',
  'verification-errors': 'verification',
  'never-verified': 'verification',
}
export function verdictRule(code: VerdictReasonCode): VerdictRule {
  return ruleOf[code]
}

export interface VerdictReason {
  readonly code: VerdictReasonCode
  readonly message: string
  readonly actual: number
  readonly required: number
}

export interface VerdictCounts {
  /** Production plus the distinct independent locations holding a good copy. */
  readonly copies: number
  readonly mediaTypes: number
  readonly offsite: number
  readonly offlineOrImmutable: number
  readonly verificationErrors: number
  readonly verified: number
  /** Live copies left out because their device is failed or degraded. */
  readonly onUnhealthyDevice: number
  readonly newestAt: number | null
  readonly newestOffsiteAt: number | null
  readonly newestOfflineAt: number | null
}

export interface Verdict {
  readonly status: VerdictStatus
  readonly reasons: readonly VerdictReason[]
  readonly counts: VerdictCounts
  /** When the verdict changes by ageing alone (a fresh newest copy turns stale); null if never. */
  readonly expiresAt: number | null
}

export type DeviceHealthLookup = (deviceKey: string) => DeviceHealth

const healthy: DeviceHealthLookup = () => 'unknown'

/** Does this copy count towards the rules? Returns why not, or undefined when it counts. */
export function copyExclusion(
  c: LedgerCopy,
  health: DeviceHealthLookup = healthy,
): 'deleted' | 'verification-failed' | 'unhealthy-device' | undefined {
  if (c.deletedAt !== undefined) {
    return 'deleted'
  }
  if (c.verification === 'failed') {
    return 'verification-failed'
  }
  if (c.deviceKey !== undefined) {
    const h = health(c.deviceKey)
    if (h === 'failed' || h === 'degraded') {
      return 'unhealthy-device'
    }
  }
  return undefined
}

function maxOrNull(a: number | null, b: number): number {
  return a === null || b > a ? b : a
}

export function evaluateAsset(
  asset: AssetFacts,
  copies: readonly LedgerCopy[],
  policy: TierPolicy,
  now: number,
  health: DeviceHealthLookup = healthy,
): Verdict {
  const locations = new Set<string>()
  const media = new Set<MediaType>()
  const offsiteLocations = new Set<string>()
  const offlineLocations = new Set<string>()
  let verificationErrors = 0
  let verified = 0
  let onUnhealthyDevice = 0
  let newestAt: number | null = null
  let newestOffsiteAt: number | null = null
  let newestOfflineAt: number | null = null
  if (asset.productionMedia !== undefined) {
    media.add(asset.productionMedia)
  }
  for (const c of copies) {
    const why = copyExclusion(c, health)
    if (why === 'verification-failed') {
      verificationErrors++
    } else if (why === 'unhealthy-device') {
      onUnhealthyDevice++
    }
    // Snapshots beside the live data share its failure domain: they are production, not another copy.
    if (why !== undefined || c.locationKey === asset.productionLocationKey) {
      continue
    }
    locations.add(c.locationKey)
    media.add(c.media)
    newestAt = maxOrNull(newestAt, c.createdAt)
    if (c.verification === 'verified') {
      verified++
    }
    if (c.offsite) {
      offsiteLocations.add(c.locationKey)
      newestOffsiteAt = maxOrNull(newestOffsiteAt, c.createdAt)
    }
    if (c.offline || c.immutable) {
      offlineLocations.add(c.locationKey)
      newestOfflineAt = maxOrNull(newestOfflineAt, c.createdAt)
    }
  }
  const counts: VerdictCounts = {
    copies: 1 + locations.size,
    mediaTypes: media.size,
    offsite: offsiteLocations.size,
    offlineOrImmutable: offlineLocations.size,
    verificationErrors,
    verified,
    onUnhealthyDevice,
    newestAt,
    newestOffsiteAt,
    newestOfflineAt,
  }
  if (asset.lifecycle !== 'active') {
    // Retained backups of archived or decommissioned assets are still listed, but they never page.
    return { status: 'exempt', reasons: [], counts, expiresAt: null }
  }
  const reasons: VerdictReason[] = []
  const need = (ok: boolean, code: VerdictReasonCode, actual: number, required: number, message: string): void => {
    if (!ok) {
      reasons.push({ code, actual, required, message })
    }
  }
  const unhealthyNote = onUnhealthyDevice > 0 ? ` (${onUnhealthyDevice} on failed/degraded devices not counted)` : ''
  need(
    counts.copies >= policy.minCopies,
    'too-few-copies',
    counts.copies,
    policy.minCopies,
    `${counts.copies} copies (production + ${locations.size} independent locations), need ${policy.minCopies}${unhealthyNote}`,
  )
  need(
    counts.mediaTypes >= policy.minMediaTypes,
    'too-few-media',
    counts.mediaTypes,
    policy.minMediaTypes,
    `${counts.mediaTypes} media types (${[...media].sort().join(', ') || 'none'}), need ${policy.minMediaTypes}`,
  )
  need(
    counts.offsite >= policy.minOffsite,
    'no-offsite',
    counts.offsite,
    policy.minOffsite,
    `${counts.offsite} offsite copies, need ${policy.minOffsite}`,
  )
  need(
    counts.offlineOrImmutable >= policy.minOfflineOrImmutable,
    'no-offline-or-immutable',
    counts.offlineOrImmutable,
    policy.minOfflineOrImmutable,
    `${counts.offlineOrImmutable} offline or immutable copies, need ${policy.minOfflineOrImmutable}`,
  )
  need(
    verificationErrors <= policy.maxVerificationErrors,
    'verification-errors',
    verificationErrors,
    policy.maxVerificationErrors,
    `${verificationErrors} live copies failed their last verification, allowed ${policy.maxVerificationErrors}`,
  )
  need(
    !policy.requireVerifiedCopy || verified > 0,
    'never-verified',
    verified,
    1,
    'no counted copy has passed verification',
  )

  let expiresAt: number | null = null
  const fresh = (newest: number | null, rpoS: number, code: VerdictReasonCode, what: string): void => {
    const limit = rpoS * 1000
    if (newest === null) {
      return // "no copy of that kind" is already a count reason; staleness of nothing adds no information
    }
    const ageS = Math.floor((now - newest) / 1000)
    if (now - newest > limit) {
      reasons.push({
        code,
        actual: ageS,
        required: rpoS,
        message: `newest ${what} is ${formatAge(ageS)} old, RPO ${formatAge(rpoS)}`,
      })
    } else {
      const at = newest + limit + 1
      expiresAt = expiresAt === null ? at : Math.min(expiresAt, at)
    }
  }
  if (newestAt === null) {
    reasons.push({ code: 'stale', actual: -1, required: policy.rpoS, message: 'no independent copy exists' })
  }
  fresh(newestAt, policy.rpoS, 'stale', 'copy')
  if (policy.minOffsite > 0) {
    fresh(newestOffsiteAt, policy.offsiteRpoS, 'stale-offsite', 'offsite copy')
  }
  if (policy.minOfflineOrImmutable > 0) {
    fresh(newestOfflineAt, policy.offlineRpoS, 'stale-offline', 'offline/immutable copy')
  }
  return { status: reasons.length === 0 ? 'compliant' : 'non-compliant', reasons, counts, expiresAt }
}

export function formatAge(s: number): string {
  if (s >= 86400) {
    const d = s / 86400
    return `${Number.isInteger(d) ? d : d.toFixed(1)}d`
  }
  if (s >= 3600) {
    const h = s / 3600
    return `${Number.isInteger(h) ? h : h.toFixed(1)}h`
  }
  return `${Math.max(0, Math.round(s / 60))}m`
}
