import type { MediaType } from '../schemas/copy.ts'
import { judgePlaces, type PlaceJudgement } from './failure-domain.ts'
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
  /** The places (location keys) the reason is about. */
  readonly copies?: readonly string[] | undefined
}

export interface VerdictCounts {
  /** Production plus the places holding a good copy that share no failure domain with it or each other. */
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
  /** Places on the production storage: listed, never counted. */
  readonly versions: number
  /** Places with only accident protections (zfs hold, btrfs read-only, chattr +i). */
  readonly protectedAgainstAccidents: number
}

export interface Verdict {
  readonly status: VerdictStatus
  readonly reasons: readonly VerdictReason[]
  readonly counts: VerdictCounts
  /** When the verdict changes by ageing alone (a fresh newest copy turns stale); null if never. */
  readonly expiresAt: number | null
  /** Every place holding live copies: copy or version, its failure domain, and why it counted or not. */
  readonly places: readonly PlaceJudgement[]
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

export function evaluateAsset(
  asset: AssetFacts,
  copies: readonly LedgerCopy[],
  policy: TierPolicy,
  now: number,
  health: DeviceHealthLookup = healthy,
): Verdict {
  let onUnhealthyDevice = 0
  const live: LedgerCopy[] = []
  const failed: LedgerCopy[] = []
  for (const c of copies) {
    const why = copyExclusion(c, health)
    if (why === 'verification-failed') {
      failed.push(c)
    } else if (why === 'unhealthy-device') {
      onUnhealthyDevice++
    }
    if (why === undefined) {
      live.push(c)
    }
  }
  const places = judgePlaces(asset, live, now)
  const byId = new Map(live.map((c) => [c.copyId, c]))
  const counted = places.filter((p) => p.counted)
  const media = new Set<MediaType>()
  const prodMedia = asset.productionStorage?.media ?? asset.productionMedia
  if (prodMedia !== undefined) {
    media.add(prodMedia)
  }
  let verified = 0
  let immutableEndsAt: number | null = null
  // The newest counted copy of each kind: its age is the kind's freshness, and a staleness reason names it.
  const newestOf = new Map<string, LedgerCopy>()
  const note = (kind: string, c: LedgerCopy): void => {
    const had = newestOf.get(kind)
    if (had === undefined || c.createdAt > had.createdAt) {
      newestOf.set(kind, c)
    }
  }
  for (const p of counted) {
    for (const m of p.media) {
      media.add(m)
    }
    for (const id of p.copyIds) {
      const c = byId.get(id)
      if (c === undefined) {
        continue
      }
      note('copy', c)
      if (p.offsite) {
        note('offsite copy', c)
      }
      if (p.offline || p.immutable) {
        note('offline/immutable copy', c)
      }
      verified += c.verification === 'verified' ? 1 : 0
    }
    if (p.immutable && !p.offline && p.immutableUntil !== null) {
      immutableEndsAt = immutableEndsAt === null ? p.immutableUntil : Math.min(immutableEndsAt, p.immutableUntil)
    }
  }
  const verificationErrors = failed.length
  const newestAt = newestOf.get('copy')?.createdAt ?? null
  const newestOffsiteAt = newestOf.get('offsite copy')?.createdAt ?? null
  const newestOfflineAt = newestOf.get('offline/immutable copy')?.createdAt ?? null
  const offsitePlaces = counted.filter((p) => p.offsite)
  const offlinePlaces = counted.filter((p) => p.offline || p.immutable)
  const counts: VerdictCounts = {
    copies: 1 + counted.length,
    mediaTypes: media.size,
    offsite: offsitePlaces.length,
    offlineOrImmutable: offlinePlaces.length,
    verificationErrors,
    verified,
    onUnhealthyDevice,
    newestAt,
    newestOffsiteAt,
    newestOfflineAt,
    versions: places.filter((p) => p.role === 'version').length,
    protectedAgainstAccidents: places.filter((p) => p.protections.length > 0).length,
  }
  if (asset.lifecycle !== 'active' || asset.exemption !== undefined) {
    // Retained backups of archived or decommissioned assets, and of assets an operator marked intentionally
    // unprotected, are still listed and judged place by place, but they never page.
    return { status: 'exempt', reasons: [], counts, expiresAt: null, places }
  }
  const reasons: VerdictReason[] = []
  const need = (
    ok: boolean,
    code: VerdictReasonCode,
    actual: number,
    required: number,
    message: string,
    named: readonly { readonly locationKey: string }[],
  ): void => {
    if (!ok) {
      reasons.push({ code, actual, required, message, copies: [...new Set(named.map((p) => p.locationKey))] })
    }
  }
  const unhealthyNote = onUnhealthyDevice > 0 ? ` (${onUnhealthyDevice} on failed/degraded devices not counted)` : ''
  need(
    counts.copies >= policy.minCopies,
    'too-few-copies',
    counts.copies,
    policy.minCopies,
    `${counts.copies} copies (production + ${counted.length} independent failure domains), need ` +
      `${policy.minCopies}${unhealthyNote}${explainPlaces(
        places.filter((p) => !p.counted),
        (p) => p.why,
      )}`,
    places,
  )
  need(
    counts.mediaTypes >= policy.minMediaTypes,
    'too-few-media',
    counts.mediaTypes,
    policy.minMediaTypes,
    `${counts.mediaTypes} media types (${[...media].sort().join(', ') || 'none'}), need ${policy.minMediaTypes}`,
    counted,
  )
  need(
    counts.offsite >= policy.minOffsite,
    'no-offsite',
    counts.offsite,
    policy.minOffsite,
    `${counts.offsite} offsite copies (site other than production's), need ${policy.minOffsite}` +
      explainPlaces(places, (p) => offsiteWhy(p, asset)),
    places,
  )
  need(
    counts.offlineOrImmutable >= policy.minOfflineOrImmutable,
    'no-offline-or-immutable',
    counts.offlineOrImmutable,
    policy.minOfflineOrImmutable,
    `${counts.offlineOrImmutable} offline or immutable copies (removable and detached, or probed immutable), ` +
      `need ${policy.minOfflineOrImmutable}${explainPlaces(places, offlineWhy)}`,
    places,
  )
  need(
    verificationErrors <= policy.maxVerificationErrors,
    'verification-errors',
    verificationErrors,
    policy.maxVerificationErrors,
    `${verificationErrors} live copies failed their last verification, allowed ${policy.maxVerificationErrors}` +
      (failed.length > 0 ? `: ${failed.map(copyLabel).join('; ')}` : ''),
    failed,
  )
  need(
    !policy.requireVerifiedCopy || verified > 0,
    'never-verified',
    verified,
    1,
    'no counted copy has passed verification',
    counted,
  )

  let expiresAt: number | null = immutableEndsAt === null ? null : immutableEndsAt + 1
  const fresh = (newest: number | null, rpoS: number, code: VerdictReasonCode, what: string): void => {
    const limit = rpoS * 1000
    if (newest === null) {
      return // "no copy of that kind" is already a count reason; staleness of nothing adds no information
    }
    const ageS = Math.floor((now - newest) / 1000)
    if (now - newest > limit) {
      const c = newestOf.get(what)
      reasons.push({
        code,
        actual: ageS,
        required: rpoS,
        message: `newest ${what} is ${formatAge(ageS)} old${c ? ` (${copyLabel(c)})` : ''}, RPO ${formatAge(rpoS)}`,
        ...(c ? { copies: [c.locationKey] } : {}),
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
  return { status: reasons.length === 0 ? 'compliant' : 'non-compliant', reasons, counts, expiresAt, places }
}

/** `place [name]`: the copy a reason is about. */
function copyLabel(c: LedgerCopy): string {
  return `${c.locationKey} [${c.name ?? c.copyId}]`
}

/** ": a (why); b (why)" over the given places, or "" when there are none — every reason names the copies. */
function explainPlaces(places: readonly PlaceJudgement[], why: (p: PlaceJudgement) => string): string {
  const parts = places.map((p) => `${p.locationKey}${p.newestName ? ` [${p.newestName}]` : ''} (${why(p)})`)
  return parts.length === 0 ? '' : `: ${parts.join('; ')}`
}

function offsiteWhy(p: PlaceJudgement, asset: AssetFacts): string {
  if (p.role === 'version') {
    return 'version on production storage'
  }
  if (p.unprobed) {
    return 'no probed storage identity; a typed offsite is not trusted'
  }
  if (asset.productionStorage === undefined) {
    return `at site ${p.site}; production site unknown (no probed source)`
  }
  const at = p.offsite ? 'offsite' : 'same site as production'
  return `${at}: site ${p.site}${p.counted ? '' : ', not counted'}`
}

function offlineWhy(p: PlaceJudgement): string {
  if (p.role === 'version') {
    return 'version on production storage'
  }
  if (p.unprobed) {
    return 'no probed storage identity; a typed offline/immutable is not trusted'
  }
  const parts: string[] = []
  parts.push(
    p.offline
      ? 'detached removable medium'
      : p.immutable
        ? 'probed immutable'
        : p.pluggedInto
          ? `online: plugged into ${p.pluggedInto}`
          : 'online',
  )
  if (p.immutabilityVoided) {
    parts.push(p.immutabilityVoided)
  }
  if (p.protections.length > 0) {
    parts.push(`protected against accidents only (${p.protections.join(', ')})`)
  }
  if (!p.counted) {
    parts.push('not counted')
  }
  return parts.join(', ')
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
