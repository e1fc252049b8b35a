import { type DiskCounterName, type DiskCounters, type DiskHealth, diskCounterNames } from '../schemas/disk-health.ts'

/**
 * Counter baselines the operator can acknowledge. Scrutiny's most-voted complaint is that a disk with 8
 * reallocated sectors from 2019 stays red forever; what matters is whether a counter *grows*. So the first
 * report of a disk sets its baseline (old damage is not news), growth above the baseline is news until the
 * operator acknowledges it, and a counter that goes down (pending sectors rewritten or remapped) lowers the
 * baseline so that the next growth is news again.
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
