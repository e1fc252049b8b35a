import type { Log } from '../log.ts'
import { forcedReleaseThrough, type KeepBounds } from './keep-bounds.ts'
import type { KeepState } from './keep-state.ts'
import type { Checkpoint, CheckpointApplied, KeptStats } from './outbox.ts'
import type { IndexEntry, PendingIndex } from './pending-index.ts'

export interface KeepLedgerDeps<L> {
  readonly index: PendingIndex<L>
  readonly bounds: KeepBounds
  /** Makes the new state durable (FileOutbox: keep.json); runs before any record it releases is dropped. */
  readonly persist: (s: KeepState) => Promise<void>
  /**
   * Makes kept records pending again, durably (FileOutbox: a requeued record in acks.log) — kept again after a
   * restart, they would never be resent once the restored collector acknowledged later events.
   */
  readonly requeue: (entries: readonly IndexEntry<L>[]) => Promise<void>
  /** Deletes released records (their release is already durable). */
  readonly drop: (entries: readonly IndexEntry<L>[]) => Promise<void>
  readonly now: () => number
  readonly log: Pick<Log, 'warn' | 'error'>
}

/**
 * The one engine for acknowledged records kept until a collector backup covers them (docs/reliability.md
 * "Outbox retention"), shared by every Outbox: releases what a checkpoint covers, what the size/age bounds force
 * out (marking it uncovered), and resends what a restored collector lacks.
 */
export class KeepLedger<L> {
  constructor(
    private readonly d: KeepLedgerDeps<L>,
    private state: KeepState,
  ) {}

  get releasedThrough(): number {
    return this.state.releasedThrough
  }

  stats(): KeptStats {
    const { index } = this.d
    return {
      ...this.state,
      kept: index.kept,
      keptBytes: index.keptBytes,
      oldestKeptAt: index.firstKept()?.at ?? null,
      ackedThrough: Math.max(this.state.releasedThrough, index.lastKept()?.seq ?? 0),
    }
  }

  /**
   * `ackedBefore`: the highest seq acknowledged before this connection to the collector (stats().ackedThrough
   * then), given only for a checkpoint published live in this connection — its high-water mark is fresh, so one
   * below `ackedBefore` means the collector lost acknowledged events (it was restored from a backup).
   */
  async applyCheckpoint(cp: Checkpoint, ackedBefore?: number): Promise<CheckpointApplied> {
    const s = this.state
    const { index, log } = this.d
    let requeued = 0
    let lost = null
    if (ackedBefore !== undefined && cp.collectorHighWater < ackedBefore) {
      // Resend what it may lack (its idempotency drops what it has); what was released beyond its high-water mark
      // is gone for good.
      const lacked = index.keptEntries(cp.coveredSeq)
      await this.d.requeue(lacked)
      requeued = lacked.length
      const releasedBefore = Math.min(s.releasedThrough, ackedBefore)
      if (releasedBefore > cp.collectorHighWater) {
        lost = { fromSeq: cp.collectorHighWater + 1, toSeq: releasedBefore }
        log.error(
          { ...lost, collectorHighWater: cp.collectorHighWater },
          'outbox: the collector came back without events this outbox had already released; they are lost',
        )
      }
      log.warn(
        { requeued, coveredSeq: cp.coveredSeq, collectorHighWater: cp.collectorHighWater, ackedBefore },
        'outbox: the collector holds less than it acknowledged (restored from a backup); resending kept events',
      )
    }
    await this.save({
      ...s,
      checkpointSeq: cp.coveredSeq,
      uncoveredThrough: lost ? Math.max(s.uncoveredThrough, lost.toSeq) : s.uncoveredThrough,
      lost: lost ?? (s.lost && cp.coveredSeq < s.lost.toSeq ? s.lost : null),
    })
    const released = (await this.release(cp.coveredSeq, true)) + (await this.releaseBeyondBounds())
    return { released, requeued, lost }
  }

  /**
   * Releases kept records with seq ≤ `through`: the state moves first (durable), then they are dropped. A release
   * no checkpoint covers (`covered` false: a bound forced it) raises `uncoveredThrough`.
   */
  async release(through: number, covered: boolean): Promise<number> {
    const s = this.state
    const victims = this.d.index.keptEntries(0, through)
    if (through <= s.releasedThrough && victims.length === 0) {
      return 0
    }
    const uncovered = !covered && through > s.checkpointSeq
    await this.save({
      ...s,
      releasedThrough: Math.max(s.releasedThrough, through),
      uncoveredThrough: uncovered ? Math.max(s.uncoveredThrough, through) : s.uncoveredThrough,
    })
    if (uncovered) {
      this.d.log.warn(
        { through, checkpointSeq: s.checkpointSeq, events: victims.length },
        'outbox: released acknowledged events no collector backup covers yet (outbox.keep bound reached)',
      )
    }
    await this.d.drop(victims)
    return victims.length
  }

  releaseBeyondBounds(): Promise<number> {
    const { index, bounds } = this.d
    const oldest = index.firstKept()
    const now = this.d.now()
    // The common case, checked without listing every kept record: within both bounds.
    if (!oldest || (index.keptBytes <= bounds.maxBytes && now - oldest.at <= bounds.maxAgeMs)) {
      return Promise.resolve(0)
    }
    const through = forcedReleaseThrough(index.keptEntries(), index.keptBytes, bounds, now)
    return through > 0 ? this.release(through, false) : Promise.resolve(0)
  }

  private async save(s: KeepState): Promise<void> {
    await this.d.persist(s)
    this.state = s
  }
}
