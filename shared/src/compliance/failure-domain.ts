import type { MediaType, StorageIdentity } from '../schemas/storage.ts'
import type { AssetFacts, LedgerCopy, MediumSite } from './policy.ts'

/**
 * Failure domains: which places holding copies of an asset fail together. A place is one location (all copies
 * at one locationKey); its domain is the set of physical things whose loss destroys it — the devices beneath it
 * and its filesystem, or, where the agent sees no devices (object store, remote host), its repository or host.
 * Copies without a probed storage identity (an old agent, a failed probe) are listed and never counted: nothing
 * says they do not share a disk with production.
 */
export const placeRoles = ['copy', 'version'] as const
export type PlaceRole = (typeof placeRoles)[number]

export interface PlaceJudgement {
  readonly locationKey: string
  readonly role: PlaceRole
  /** Counted as one of the 3 copies: independent of production and of every place counted before it. */
  readonly counted: boolean
  /** Why counted or not, naming the shared device or the rule. */
  readonly why: string
  /** The failure-domain keys (`dev:…`, `fs:…`, `repo:…`, `host:…`, `location:…`). */
  readonly domain: readonly string[]
  readonly copyIds: readonly string[]
  readonly newestName: string | null
  /** Probed media of the place (typed media for unprobed places); every copy's, so a new copy never removes one. */
  readonly media: readonly MediaType[]
  readonly site: string | null
  readonly offsite: boolean
  readonly offline: boolean
  /** A removable medium its host reports detached, found plugged into this node by its inventory: online. */
  readonly pluggedInto: string | null
  /** Why a probed immutability does not hold after all (the source holds a login to the puller), else null. */
  readonly immutabilityVoided: string | null
  readonly immutable: boolean
  /** Immutability ends at this instant (object lock retain-until); the verdict re-evaluates then. */
  readonly immutableUntil: number | null
  /** zfs hold / btrfs read-only / chattr +i: shown, never counted (the node's root undoes them in one command). */
  readonly protections: readonly string[]
  /** True when no copy here carries a probed storage identity (an old agent): never offsite/offline/immutable. */
  readonly unprobed: boolean
  /** The operator's typed booleans that were not backed by probed facts (shown so the overstatement is visible). */
  readonly unprovenClaims: readonly ('offsite' | 'offline' | 'immutable')[]
}

/**
 * Domain keys of one probed storage: its devices and filesystem. Without devices: a remote repository is also its
 * host (two pools or repositories on one remote host may share a disk the agent cannot see, so they count once); a
 * detached medium is its filesystem alone; anything else is its host.
 */
export function domainOf(s: StorageIdentity): string[] {
  const keys = s.devices.map((d) => `dev:${d.id}`)
  if (s.fsUuid !== undefined) {
    keys.push(`fs:${s.fsUuid.toLowerCase()}`)
  }
  if (s.devices.length === 0) {
    if (s.repository !== undefined) {
      keys.push(`repo:${s.repository}`, `host:${s.host.toLowerCase()}`)
    } else if (s.fsUuid === undefined) {
      keys.push(`host:${s.host.toLowerCase()}`)
    }
  }
  return keys
}

/** The site of production's storage: a rotation record for its filesystem wins over the reported site. */
export function siteOf(s: StorageIdentity, mediumSites: Readonly<Record<string, MediumSite>> | undefined): string {
  const moved = s.fsUuid !== undefined ? mediumSites?.[s.fsUuid.toLowerCase()] : undefined
  return moved?.site ?? s.site
}

const removableMedia: ReadonlySet<MediaType> = new Set(['usb', 'tape', 'optical'])

export function isRemovable(s: StorageIdentity): boolean {
  return removableMedia.has(s.media) || s.devices.some((d) => d.removable === true || d.transport === 'usb')
}

/**
 * Where a medium is now and whether it is plugged into its host: the newer of the agent's last probe and the
 * operator's rotation record wins. A removable medium recorded at a site other than its host's cannot be plugged
 * into that host, so it is detached (as the agent reports copies on a target it cannot see); seen attached
 * after the record, it is back with its host at the host's site.
 */
export function whereabouts(
  s: StorageIdentity,
  probedAt: number | undefined,
  mediumSites: Readonly<Record<string, MediumSite>> | undefined,
): { site: string; attached: boolean | undefined; rotated: boolean } {
  const rotation = s.fsUuid !== undefined ? mediumSites?.[s.fsUuid.toLowerCase()] : undefined
  if (rotation === undefined || (s.attached === true && probedAt !== undefined && probedAt > rotation.recordedAt)) {
    return { site: s.site, attached: s.attached, rotated: false }
  }
  const away = rotation.site !== s.site && isRemovable(s)
  return { site: rotation.site, attached: away ? false : s.attached, rotated: true }
}

/**
 * The node a detached removable medium is plugged into now, by the nodes' latest inventories: its own host only
 * when that inventory is newer than the probe that found it detached; another node when the inventory is newer
 * than any rotation record (carried away after being seen there, it is where the record says). Null when none.
 */
export function pluggedInto(
  s: StorageIdentity,
  probedAt: number | undefined,
  asset: Pick<AssetFacts, 'mediaSeen' | 'mediumSites'>,
): string | null {
  const uuid = s.fsUuid?.toLowerCase()
  if (uuid === undefined || !isRemovable(s)) {
    return null
  }
  const recordedAt = asset.mediumSites?.[uuid]?.recordedAt ?? -Infinity
  const seen = (asset.mediaSeen?.[uuid] ?? []).filter(
    (m) => m.at > recordedAt && (m.node.toLowerCase() !== s.host.toLowerCase() || m.at > (probedAt ?? -Infinity)),
  )
  return seen.map((m) => m.node).sort()[0] ?? null
}

/** Offline only for removable media that are detached; an always-attached USB disk is online. */
export function isOffline(s: StorageIdentity, attached: boolean | undefined = s.attached): boolean {
  return isRemovable(s) && attached === false
}

/** Immutable only when the agent probed a mechanism the node cannot undo, and any retain-until is still ahead. */
export function immutableUntil(s: StorageIdentity, now: number): { immutable: boolean; until: number | null } {
  if (s.immutability === undefined) {
    return { immutable: false, until: null }
  }
  if (s.immutability.retainUntil === undefined) {
    return { immutable: true, until: null }
  }
  const until = Date.parse(s.immutability.retainUntil)
  return until > now ? { immutable: true, until } : { immutable: false, until: null }
}

interface Place {
  readonly locationKey: string
  readonly copies: LedgerCopy[]
}

function groupByLocation(copies: readonly LedgerCopy[]): Place[] {
  const byKey = new Map<string, LedgerCopy[]>()
  for (const c of copies) {
    const list = byKey.get(c.locationKey) ?? []
    list.push(c)
    byKey.set(c.locationKey, list)
  }
  return [...byKey].map(([locationKey, list]) => ({ locationKey, copies: list }))
}

/** The latest probe describes the place now (attachment, site, lock); its domain is every copy's union. */
function newestProbed(p: Place): LedgerCopy | undefined {
  let best: LedgerCopy | undefined
  const at = (c: LedgerCopy): number => c.reportedAt ?? c.createdAt
  for (const c of p.copies) {
    if (c.storage !== undefined && (best === undefined || at(c) > at(best))) {
      best = c
    }
  }
  return best
}

function newestName(p: Place): string | null {
  let best: LedgerCopy | undefined
  for (const c of p.copies) {
    if (best === undefined || c.createdAt > best.createdAt) {
      best = c
    }
  }
  return best?.name ?? best?.copyId ?? null
}

/**
 * Production's own domain: its probed devices and its host, else its location key (snapshots there are versions).
 * The host key only meets places whose devices the agent cannot see (a repository served from this machine): they
 * may be on production's disks.
 */
export function productionDomain(asset: AssetFacts): Set<string> {
  const prod = asset.productionStorage
  const keys = new Set<string>(prod ? [...domainOf(prod), `host:${prod.host.toLowerCase()}`] : [])
  if (asset.productionLocationKey !== undefined) {
    keys.add(`location:${asset.productionLocationKey}`)
  }
  return keys
}

type Facts = Omit<PlaceJudgement, 'role' | 'counted' | 'why'>

function factsOf(p: Place, asset: AssetFacts, prodSite: string | null, now: number): Facts {
  const domain = new Set<string>([`location:${p.locationKey}`])
  const protections = new Set<string>()
  for (const c of p.copies) {
    for (const k of c.storage ? domainOf(c.storage) : []) {
      domain.add(k)
    }
    for (const pr of c.storage?.protections ?? []) {
      protections.add(pr)
    }
  }
  const latest = newestProbed(p)
  const probe = latest?.storage
  const claims = (['offsite', 'offline', 'immutable'] as const).filter((k) => p.copies.some((c) => c[k]))
  const base = { locationKey: p.locationKey, domain: [...domain].sort(), copyIds: p.copies.map((c) => c.copyId) }
  if (probe === undefined) {
    const media = [...new Set(p.copies.map((c) => c.media))].sort()
    const common = {
      site: null,
      offsite: false,
      offline: false,
      pluggedInto: null,
      immutable: false,
      immutabilityVoided: null,
      immutableUntil: null,
    }
    return {
      ...base,
      ...common,
      newestName: newestName(p),
      media,
      protections: [],
      unprobed: true,
      unprovenClaims: claims,
    }
  }
  const where = whereabouts(probe, latest?.reportedAt, asset.mediumSites)
  const site = where.site
  const offsite = prodSite !== null && site !== prodSite
  const probedAt = latest?.reportedAt ?? latest?.createdAt
  const plugged = where.attached === false ? pluggedInto(probe, probedAt, asset) : null
  const offline = plugged === null && isOffline(probe, where.attached)
  const imm = immutableUntil(probe, now)
  const voided = loginVoids(probe, asset)
  const proven = { offsite, offline, immutable: imm.immutable && voided === null }
  return {
    ...base,
    newestName: newestName(p),
    media: [...new Set(p.copies.flatMap((c) => (c.storage ? [c.storage.media] : [])))].sort(),
    site,
    ...proven,
    pluggedInto: plugged,
    immutabilityVoided: imm.immutable ? voided : null,
    immutableUntil: proven.immutable ? imm.until : null,
    protections: [...protections].sort(),
    unprobed: false,
    unprovenClaims: claims.filter((k) => !proven[k]),
  }
}

/** A pulled replica is immutable only while its source holds no login to the node that pulled it. */
function loginVoids(probe: StorageIdentity, asset: AssetFacts): string | null {
  const holder = probe.host.toLowerCase()
  if (
    probe.immutability?.kind !== 'pull-replica' ||
    !asset.loginsFromProduction?.some((n) => n.toLowerCase() === holder)
  ) {
    return null
  }
  return `not immutable: an ssh key the source node holds is authorized on ${probe.host}`
}

/** Stronger places first, so that of two places failing together the one that proves more is the one counted. */
function strength(f: Facts): number {
  return (f.offline || f.immutable ? 4 : 0) + (f.offsite ? 2 : 0) + (f.unprobed ? 0 : 1)
}

/**
 * Judges every place holding live copies. Greedy in a deterministic order (strongest first: offline or
 * immutable, then offsite, then probed; ties by location key): a place counts when its domain shares nothing
 * with production nor with a place already counted. Places on production's devices are versions.
 */
export function judgePlaces(asset: AssetFacts, liveCopies: readonly LedgerCopy[], now: number): PlaceJudgement[] {
  const prod = productionDomain(asset)
  const prodSite = asset.productionStorage ? siteOf(asset.productionStorage, asset.mediumSites) : null
  const facts = groupByLocation(liveCopies).map((p) => factsOf(p, asset, prodSite, now))
  facts.sort((a, b) => strength(b) - strength(a) || (a.locationKey < b.locationKey ? -1 : 1))
  const taken = new Map<string, string>()
  const out: PlaceJudgement[] = []
  for (const f of facts) {
    // A shared device or location makes a version; sharing only the host, a copy that cannot be told apart.
    const onProd = f.domain.find((k) => prod.has(k) && !k.startsWith('host:')) ?? f.domain.find((k) => prod.has(k))
    if (onProd?.startsWith('host:') === true) {
      const why = `not counted: on production's host (${onProd}) on devices the agent cannot see — it may share them`
      out.push({ ...f, role: 'copy', counted: false, why })
      continue
    }
    if (onProd !== undefined) {
      out.push({ ...f, role: 'version', counted: false, why: `version: on the production storage (${onProd})` })
      continue
    }
    const shared = f.domain.find((k) => taken.has(k))
    if (shared !== undefined) {
      const why = `not counted: shares ${shared} with counted copy ${taken.get(shared)}`
      out.push({ ...f, role: 'copy', counted: false, why })
      continue
    }
    if (f.unprobed) {
      // Its devices are unknown, so it may sit on production's disk or on a counted copy's: one failure away.
      const why =
        'not counted: no probed storage identity (its agent predates storage probing, or the probe failed — the ' +
        "run's warnings say why); it may share a disk with production or another copy"
      out.push({ ...f, role: 'copy', counted: false, why })
      continue
    }
    for (const k of f.domain) {
      taken.set(k, f.locationKey)
    }
    out.push({
      ...f,
      role: 'copy',
      counted: true,
      why: 'counted: shares no device with production or another counted copy',
    })
  }
  return out
}
