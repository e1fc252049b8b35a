import type { Clock } from '../../collector/src/time/clock.ts'

/**
 * The collector's Clock seam driven by the benchmark: `now` is simulated time, and every timer the collector arms
 * (ledger deadlines, its own scheduled upkeep) fires, in order, when the benchmark advances past its instant —
 * so a simulated year runs whatever the collector schedules on its clock exactly as often as it would.
 */
export class VirtualClock implements Clock {
  private t: number
  private nextId = 1
  private readonly timers = new Map<number, { at: number; fn: () => void }>()
  /** Timers fired so far (the benchmark prints it: proof the collector's scheduled work ran). */
  fired = 0

  constructor(start: number) {
    this.t = start
  }

  now(): number {
    return this.t
  }

  setTimer(fn: () => void, delayMs: number): unknown {
    const id = this.nextId++
    this.timers.set(id, { at: this.t + Math.max(0, delayMs), fn })
    return id
  }

  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number)
  }

  /** Moves to `to`, firing every timer due on the way at its own instant (timers armed by timers included). */
  advanceTo(to: number): void {
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined
      for (const e of this.timers) {
        if (e[1].at <= to && (due === undefined || e[1].at < due[1].at)) {
          due = e
        }
      }
      if (due === undefined) {
        break
      }
      this.timers.delete(due[0])
      this.t = Math.max(this.t, due[1].at)
      this.fired++
      due[1].fn()
    }
    this.t = Math.max(this.t, to)
  }
}
