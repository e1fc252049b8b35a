import {
  MAX_MESSAGE_BYTES,
  type AssetRef,
  type Copy,
  type JobFinishedBody,
  type Location,
  type StorageIdentity,
} from '@backstop/shared'
import type { ResolvedJob } from './kinds.ts'
import type { JobPlace, JobResult } from './job.ts'
import type { ProbedStorage, StorageHints, StorageLocator, StorageProber } from '../storage/probe.ts'
import { isLoopbackHost } from '../storage/loopback.ts'

/** What config says about one place a job writes: its `site:` and `media:` (media may only refine the probe). */
export interface StorageTargetRule {
  readonly kind: Location['kind']
  /** Pool name, directory, or stick label, as the job's config names it. */
  readonly at: string
  readonly hints: StorageHints
}

export interface JobStorageSpec {
  /** In order: the job's own destination first, then its replication targets. */
  readonly targets: readonly StorageTargetRule[]
  /** Where the live data of a file set or host image is (an asset id says it for datasets and subvolumes). */
  readonly sourcePaths: readonly string[]
  /** The assets live on another node (a pull job): their names say nothing about this host's pools. */
  readonly remoteSources?: boolean
}

const poolOf = (dataset: string): string => dataset.split('/')[0] ?? dataset

/** Per kind, from its resolved config (exhaustive: a new kind does not compile until it says where it writes). */
export function storageSpecOf(job: ResolvedJob): JobStorageSpec {
  const own = (kind: Location['kind'], at: string, media?: StorageHints['media']): StorageTargetRule => ({
    kind,
    at,
    hints: { ...(job.site !== undefined ? { site: job.site } : {}), ...(media ? { media } : {}) },
  })
  const target = (
    kind: Location['kind'],
    at: string,
    t: { media: StorageHints['media']; site?: string; fsUuid?: string | null },
  ): StorageTargetRule => {
    const site = t.site ?? job.site
    return {
      kind,
      at,
      hints: {
        ...(site !== undefined ? { site } : {}),
        ...(t.media ? { media: t.media } : {}),
        ...(t.fsUuid ? { fsUuid: t.fsUuid } : {}),
      },
    }
  }
  switch (job.kind) {
    case 'zfs':
      return {
        targets: [
          ...job.datasets.map((d) => own('zfs-pool', poolOf(d.name), job.media)),
          ...job.targets.map((t) =>
            target('zfs-pool', t.ssh === undefined ? poolOf(t.dataset) : `${t.ssh.host}:${poolOf(t.dataset)}`, t),
          ),
        ],
        sourcePaths: [],
      }
    case 'zfs-pull':
      // The datasets' live data is on the source node, not here: no local source to probe.
      return { targets: [own('zfs-pool', poolOf(job.dataset), job.media)], sourcePaths: [], remoteSources: true }
    case 'zfs-replicas':
    case 'btrfs-replicas':
      // It writes no copies (the senders report their replicas): nothing to probe for this job.
      return { targets: [], sourcePaths: [], remoteSources: true }
    case 'btrfs':
      return {
        targets: [
          own('btrfs-fs', job.snapshotDir, job.media),
          // A target over ssh is `host:/dir`, as its copies' location says.
          ...job.targets.map((t) => target('btrfs-fs', t.ssh === null ? t.path : `${t.ssh.host}:${t.path}`, t)),
        ],
        sourcePaths: [],
      }
    case 'archive':
      return { targets: [own('dir', job.destination, job.media)], sourcePaths: job.paths }
    case 'vzdump':
      return {
        targets: [
          'dumpdir' in job.target
            ? own('dir', job.target.dumpdir, job.media)
            : job.target.path !== null
              ? own('dir', job.target.path, job.media)
              : own('pbs', job.target.storage, job.media),
        ],
        sourcePaths: [],
      }
    case 'rear':
      return { targets: [own('usb', job.label, 'usb')], sourcePaths: ['/'] }
    case 'restic':
      return {
        targets: [
          own(job.repository.media === 'object' ? 'object' : 'nas', job.repository.display, job.repository.media),
        ],
        sourcePaths: job.paths,
      }
  }
}

/** The config rule for a copy's location: same kind, and one path inside the other (or the same pool/label). */
export function ruleFor(spec: JobStorageSpec, loc: Location): StorageTargetRule | undefined {
  const t = loc.target
  return spec.targets.find(
    (r) => r.kind === loc.kind && (inside(r.at, t) || inside(t, r.at) || t.startsWith(`${r.at}:`)),
  )
}

/** The host of `rest:http://host:port/…`, `s3:https://host/…`, `sftp:user@host:/…`; the whole target otherwise. */
function urlHost(target: string): string {
  return (
    /^[a-z0-9]+:[a-z]+:\/\/(?:[^/@]*@)?(\[[^\]]+\]|[^/:]+)/i.exec(target)?.[1] ??
    /^sftp:(?:[^@/]+@)?(\[[^\]]+\]|[^:/]+)/.exec(target)?.[1] ??
    target
  )
}

/** `path` is `dir` or below it (`/` holds every absolute path). */
function inside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`)
}

/**
 * Where to probe a copy's location. A target over ssh on a loopback host is on this machine: it is probed as the
 * local pool or path it is, so a push to `127.0.0.1` counts only when it is on other disks than production.
 */
export function locatorOf(loc: Location): StorageLocator {
  switch (loc.kind) {
    case 'zfs-pool': {
      // `host:pool` is a replica received by another host over ssh: remote storage, not a local pool.
      const colon = loc.target.indexOf(':')
      if (colon < 0) {
        return { kind: 'zfs-pool', pool: poolOf(loc.target) }
      }
      const host = loc.target.slice(0, colon)
      return isLoopbackHost(host)
        ? { kind: 'zfs-pool', pool: poolOf(loc.target.slice(colon + 1)), via: host }
        : { kind: 'remote', host, repository: `zfs:${loc.target}` }
    }
    case 'btrfs-fs': {
      // `host:/mount` is a replica received by another host over ssh: remote storage, not a local path.
      if (loc.target.startsWith('/')) {
        return { kind: 'path', path: loc.target }
      }
      const colon = loc.target.indexOf(':')
      const host = loc.target.slice(0, colon)
      return isLoopbackHost(host)
        ? { kind: 'path', path: loc.target.slice(colon + 1), via: host }
        : { kind: 'remote', host, repository: `btrfs:${loc.target}` }
    }
    case 'dir':
      return { kind: 'path', path: loc.target }
    case 'usb':
      return { kind: 'label', label: loc.device?.label ?? loc.target.split(':')[0]! }
    default: {
      // A repository in a local directory (restic `/srv/restic`, `sftp:…@localhost:/srv/restic`) is on the disks
      // beneath that directory.
      const local = localRepositoryPath(loc.target)
      if (local !== null) {
        return local
      }
      // A repository that names its own identity (restic: `restic:<repository id>`) is that repository wherever it
      // is served from; its host is the URL's.
      return loc.device?.id !== undefined
        ? { kind: 'remote', host: urlHost(loc.target), repository: loc.device.id }
        : { kind: 'remote', host: loc.target, repository: `${loc.kind}:${loc.target}` }
    }
  }
}

/** A place the job resolved (JobResult.placed): a directory is probed as one; a host keeps the copy's repository. */
function locatorOfPlace(place: JobPlace, loc: Location): StorageLocator {
  return place.kind === 'path'
    ? { kind: 'path', path: place.path }
    : { kind: 'remote', host: place.host, repository: loc.device?.id ?? `${loc.kind}:${loc.target}` }
}

function localRepositoryPath(target: string): StorageLocator | null {
  if (target.startsWith('/')) {
    return { kind: 'path', path: target }
  }
  const sftp = /^sftp:(?:[^@/]+@)?(\[[^\]]+\]|[^:/]+):(\/.*)$/.exec(target)
  return sftp !== null && isLoopbackHost(sftp[1]!) ? { kind: 'path', path: sftp[2]!, via: sftp[1]! } : null
}

/** Where the live data of an asset is; null where the agent cannot tell yet (guests: their PVE storage). */
function sourceLocators(asset: AssetRef, spec: JobStorageSpec): StorageLocator[] {
  if (spec.remoteSources === true) {
    return []
  }
  switch (asset.kind) {
    case 'zfs-dataset':
      return [{ kind: 'zfs-pool', pool: poolOf(asset.id) }]
    case 'btrfs-subvolume':
      return [{ kind: 'path', path: asset.id }]
    case 'file-set':
    case 'host-image':
      return spec.sourcePaths.map((path) => ({ kind: 'path', path }))
    default:
      return []
  }
}

export interface StorageReport {
  readonly copies: Copy[]
  readonly sources: { asset: AssetRef; storage: StorageIdentity }[]
  readonly warnings: string[]
}

/**
 * Adds the probed storage to every copy of a run and lists where each protected asset's live data is (copy #1).
 * A probe that fails leaves that copy without `storage` and says why in a warning: the copy still counts as a
 * copy of unknown domain, and the run's status is not changed by it.
 */
export async function describeStorage(
  r: JobResult,
  spec: JobStorageSpec,
  prober: StorageProber,
): Promise<StorageReport> {
  const warnings = new Set<string>()
  // A run reports thousands of snapshots on a handful of locations: one probe per location and config rule.
  const probed = new Map<string, Promise<ProbedStorage | null>>()
  const probeOnce = async (at: StorageLocator, hints: StorageHints): Promise<ProbedStorage | null> => {
    try {
      const p = await prober.probe(at, hints)
      p.warnings.forEach((w) => warnings.add(w))
      return p
    } catch (e) {
      warnings.add(`could not probe the storage of ${JSON.stringify(at)}: ${(e as Error).message}`)
      return null
    }
  }
  const probe = (at: StorageLocator, hints: StorageHints): Promise<ProbedStorage | null> => {
    const key = JSON.stringify([at, hints])
    let p = probed.get(key)
    if (!p) {
      p = probeOnce(at, hints)
      probed.set(key, p)
    }
    return p
  }
  const copies: Copy[] = []
  for (const c of r.copies) {
    const placed = r.placed?.find((x) => x.at === c.location.target)?.place
    const at = placed === undefined ? locatorOf(c.location) : locatorOfPlace(placed, c.location)
    const p = await probe(at, ruleFor(spec, c.location)?.hints ?? {})
    const protections =
      c.location.kind === 'zfs-pool' && c.immutable
        ? (['zfs-hold'] as const)
        : c.location.kind === 'btrfs-fs'
          ? (['btrfs-readonly'] as const)
          : []
    const proven = r.immutability?.find((i) => c.location.target === i.at || c.location.target.startsWith(`${i.at}/`))
    copies.push(
      p
        ? {
            ...c,
            storage: {
              ...p.storage,
              ...(proven !== undefined ? { immutability: proven.immutability } : {}),
              ...(protections.length > 0 ? { protections: [...protections] } : {}),
            },
          }
        : c,
    )
  }
  const sources: StorageReport['sources'] = []
  const seen = new Set<string>()
  for (const c of r.copies) {
    for (const at of sourceLocators(c.asset, spec)) {
      const key = `${c.asset.kind}:${c.asset.id}:${JSON.stringify(at)}`
      if (seen.has(key)) {
        continue
      }
      seen.add(key)
      // Production lives on the node, at the node's site; its media is what the probe finds.
      const p = await probe(at, {})
      if (p) {
        sources.push({ asset: c.asset, storage: p.storage })
      }
    }
  }
  return { copies, sources, warnings: [...warnings] }
}

/** The same for a job.finished built elsewhere (vzdump runs Proxmox started, drained from the hook spool). */
export async function finishedWithStorage(
  body: JobFinishedBody,
  spec: JobStorageSpec,
  prober: StorageProber,
): Promise<JobFinishedBody> {
  if (body.copies.length === 0) {
    return body
  }
  const r = await describeStorage({ ...body, warnings: [] }, spec, prober)
  return fitStorageToWire({
    ...body,
    copies: r.copies,
    warnings: [...body.warnings, ...r.warnings].slice(0, 100),
    ...(r.sources.length > 0 ? { sources: r.sources.slice(0, 1000) } : {}),
  })
}

/** Room left in a message for the envelope (ids, signature, topic) around the body. */
const envelopeReserve = 64 * 1024

/**
 * Storage makes each copy a few hundred bytes larger; a run that lists thousands of snapshots could then exceed
 * the 1 MiB message limit and its job.finished would be refused — a finished run turned into silence. Copies on
 * one location share one storage, so beyond the limit it is kept on the first copy of each location only.
 */
export function fitStorageToWire(
  body: JobFinishedBody,
  maxBytes = MAX_MESSAGE_BYTES - envelopeReserve,
): JobFinishedBody {
  if (Buffer.byteLength(JSON.stringify(body)) <= maxBytes) {
    return body
  }
  const seen = new Set<string>()
  let dropped = 0
  const copies = body.copies.map((c) => {
    const where = `${c.location.kind}:${c.location.target}`
    if (c.storage === undefined || !seen.has(where)) {
      seen.add(where)
      return c
    }
    dropped++
    const { storage: _omitted, ...rest } = c
    return rest
  })
  const note =
    `storage omitted on ${dropped} of ${body.copies.length} copies to fit the message size limit; ` +
    `each location's storage is on its first copy`
  return { ...body, copies, warnings: [...body.warnings.slice(0, 99), note] }
}
