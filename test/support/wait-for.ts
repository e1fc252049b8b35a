export interface WaitForOptions {
  /** What is awaited, for the timeout message ("agent enrolled", "the ack for m3"). */
  readonly what: string
  /** Default 10 s. */
  readonly timeoutMs?: number
  /** How often the condition is asked again. Default 10 ms. */
  readonly intervalMs?: number
}

/**
 * Waits for an observable condition instead of a fixed sleep: asks `condition` until it returns something other
 * than `undefined` or `false` and resolves with that value. A throwing condition counts as not yet; its last error
 * is quoted when the wait times out, so a failure says what was awaited and what was seen.
 */
export async function waitFor<T>(
  condition: () => T | undefined | false | Promise<T | undefined | false>,
  opts: WaitForOptions,
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000
  const until = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await condition()
      if (value !== undefined && value !== false) {
        return value
      }
    } catch (e) {
      lastError = e
    }
    if (Date.now() > until) {
      const seen = lastError === undefined ? '' : `; last error: ${String(lastError)}`
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what}${seen}`)
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 10))
  }
}
