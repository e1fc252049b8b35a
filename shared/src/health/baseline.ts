import { type DiskCounterName, type DiskCounters, type DiskHealth, diskCounterNames } from '../schemas/disk-health.ts'

/**
 * Counter baselines the operator can acknowledge. Scrutiny's most-voted complaint is that a disk with 8
 * reallocated sectors from 2019 stays red forever; what matters is whether a counter *grows*. But a disk that
 * arrives with damage must not be accepted silently either: the first report records the counters as first
 * seen, media damage in them is a warning ("pre-existing damage") until the operator acknowledges it, and only
 * the acknowledgement makes it the baseline. Growth above the baseline is news until acknowledged, and a
 * counter that goes down (pending sectors rewritten or remapped) lowers the baseline so that the next growth
 * is news again.
 */
export interface DiskBaseline {
  readonly diskKey: string
  readonly counters: DiskCounters
  readonly firstSeenAt: string
  /** When the operator last accepted the current values; null until then. */
  readonly acknowledgedAt: string | null
}

export interface CounterDelta {
  readonly counter: DiskCounterName
  readonly baseline: number
  readonly current: number
  readonly delta: number
}

/**
 * Stable identity of a disk within a node: its serial (survives renumbering of /dev/sdX, and is what a copy's
 * `location.device.serial` names), else its device node.
 */
export function diskKey(d: Pick<DiskHealth, 'serial' | 'name'>): string {
  return d.serial ? `serial:${d.serial}` : `name:${d.name}`
}

export function initialBaseline(d: DiskHealth, now: Date): DiskBaseline {
  return { diskKey: diskKey(d), counters: { ...d.counters }, firstSeenAt: now.toISOString(), acknowledgedAt: null }
}

/** Counters above their baseline, largest growth first. A counter the baseline never saw counts from 0. */
export function counterDeltas(d: DiskHealth, baseline: DiskBaseline): CounterDelta[] {
  const out: CounterDelta[] = []
  for (const counter of diskCounterNames) {
    const current = d.counters[counter]
    if (current === undefined) {
      continue
    }
    const base = baseline.counters[counter] ?? 0
    if (current > base) {
      out.push({ counter, baseline: base, current, delta: current - base })
    }
  }
  return out.sort((a, b) => b.delta - a.delta)
}

/**
 * Folds a new report into the baseline without acknowledging anything: counters that went down lower the
 * baseline (a transient pending sector that cleared), counters that grew keep the old value (still news).
 */
export function reconcileBaseline(baseline: DiskBaseline, d: DiskHealth): DiskBaseline {
  const counters: DiskCounters = { ...baseline.counters }
  for (const counter of diskCounterNames) {
    const current = d.counters[counter]
    const base = counters[counter]
    if (current !== undefined && (base === undefined || current < base)) {
      counters[counter] = current
    }
  }
  return { ...baseline, counters }
}

/** The operator accepts the disk as it is now: current values become the baseline. */
export function acknowledgeBaseline(baseline: DiskBaseline, d: DiskHealth, now: Date): DiskBaseline {
  return { ...baseline, counters: { ...baseline.counters, ...d.counters }, acknowledgedAt: now.toISOString() }
}

/** Counters that count damage of the medium itself (CRC errors are cabling/bridge trouble, not damage). */
export const mediaDamageCounters: ReadonlySet<DiskCounterName> = new Set<DiskCounterName>([
  'reallocatedSectors',
  'pendingSectors',
  'offlineUncorrectable',
  'reportedUncorrect',
  'mediaErrors',
  'grownDefects',
  'uncorrectedErrors',
])

/** How a damage count reads in an alert: "8 reallocated sectors". */
const damageNouns: Partial<Record<DiskCounterName, string>> = {
  reallocatedSectors: 'reallocated sectors',
  pendingSectors: 'pending sectors',
  offlineUncorrectable: 'offline-uncorrectable sectors',
  reportedUncorrect: 'reported-uncorrectable errors',
  mediaErrors: 'NVMe media errors',
  grownDefects: 'grown defects',
  uncorrectedErrors: 'uncorrected errors',
}

export interface PreExistingDamage {
  readonly counter: DiskCounterName
  readonly count: number
}

/**
 * Media damage the disk already had when first seen and the operator has not acknowledged yet: the first-seen
 * value (lowered if the counter went down since), for counters still above 0. A disk without a baseline is
 * being seen for the first time, so all its media damage is pre-existing.
 */
export function preExistingDamage(d: DiskHealth, baseline: DiskBaseline | undefined): PreExistingDamage[] {
  if (baseline !== undefined && baseline.acknowledgedAt !== null) {
    return []
  }
  const out: PreExistingDamage[] = []
  for (const counter of diskCounterNames) {
    const current = d.counters[counter]
    if (!mediaDamageCounters.has(counter) || current === undefined) {
      continue
    }
    const count = baseline === undefined ? current : Math.min(current, baseline.counters[counter] ?? 0)
    if (count > 0) {
      out.push({ counter, count })
    }
  }
  return out
}

/** "8 reallocated sectors, 2 pending sectors" */
export function describeDamage(damage: readonly PreExistingDamage[]): string {
  return damage.map((x) => `${x.count} ${damageNouns[x.counter] ?? x.counter}`).join(', ')
}
