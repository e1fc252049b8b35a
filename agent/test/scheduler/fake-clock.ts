import type { Clock } from '../../src/clock.ts'

interface Waiter {
  readonly at: number
  readonly resolve: () => void
}

/** Lets pending promise chains (a finished run freeing its job, the scheduler re-arming) settle. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setImmediate(r))
  }
}

/**
 * A Clock whose time moves only when the test says so. `advanceTo` walks through every sleeper in time order,
 * waking each at its own instant and letting the woken code run before moving on — so a scheduler sees each
 * slot at the time it was due, as it would in real time.
 */
export class FakeClock implements Clock {
  private t: number
  private waiters: Waiter[] = []

  constructor(start: Date | string) {
    this.t = new Date(start).getTime()
  }

  now(): Date {
    return new Date(this.t)
  }

  sleepUntil(t: Date, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) {
      return Promise.reject(signal.reason)
    }
    if (t.getTime() <= this.t) {
      return Promise.resolve()
    }
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { at: t.getTime(), resolve }
      this.waiters.push(w)
      signal?.addEventListener(
        'abort',
        () => {
          this.waiters = this.waiters.filter((x) => x !== w)
          reject(signal.reason)
        },
        { once: true },
      )
    })
  }

  async advanceTo(target: Date | string): Promise<void> {
    const end = new Date(target).getTime()
    await settle()
    for (;;) {
      const due = this.waiters.filter((w) => w.at <= end).sort((a, b) => a.at - b.at)[0]
      if (due === undefined) {
        this.t = Math.max(this.t, end)
        await settle()
        return
      }
      this.t = Math.max(this.t, due.at)
      this.waiters = this.waiters.filter((w) => w !== due)
      due.resolve()
      await settle()
    }
  }

  async advance(ms: number): Promise<void> {
    await this.advanceTo(new Date(this.t + ms))
  }

  /** Sleepers not yet woken (a stopped scheduler must leave none). */
  pending(): number {
    return this.waiters.length
  }
}
