/** The clock seam (pino's `timestamp` option, MQTT.js get-timer): nothing else in the agent reads the wall clock. */
export interface Clock {
  now(): Date
  /** Resolves at `t` (or at once if it is past); rejects with the signal's reason when aborted. */
  sleepUntil(t: Date, signal?: AbortSignal): Promise<void>
}

export const systemClock: Clock = {
  now: () => new Date(),
  sleepUntil: (t, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason)
        return
      }
      // setTimeout's ceiling is 2^31-1 ms (~24.8 days); longer sleeps wake early and the caller re-checks.
      const ms = Math.min(Math.max(0, t.getTime() - Date.now()), 2 ** 31 - 1)
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }, ms)
      const onAbort = (): void => {
        clearTimeout(timer)
        reject(signal?.reason)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
    }),
}
