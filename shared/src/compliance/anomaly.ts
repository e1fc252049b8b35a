/**
 * Runs that exit 0 but look wrong (Healthchecks #236/#1080, collector-anchors §8.4): much faster than usual,
 * much slower, or far fewer bytes. Compared against the median of recent successful runs of the same job so
 * one outlier in the history does not move the baseline.
 */
export interface RunSample {
  readonly durationMs: number
  readonly bytes?: number | undefined
}

export interface AnomalyThresholds {
  /** Successful runs needed before anything is judged. */
  readonly minSamples: number
  /** How many of the most recent samples form the baseline. */
  readonly window: number
  /** Warn when duration < median × fastRatio. */
  readonly fastRatio: number
  /** Warn when duration > median × slowRatio. */
  readonly slowRatio: number
  /** Warn when bytes < median × smallRatio. */
  readonly smallRatio: number
  /** Runs shorter than this are never "too fast" (incremental no-ops are legitimately instant). */
  readonly minBaselineMs: number
}

export const defaultAnomalyThresholds: AnomalyThresholds = {
  minSamples: 5,
  window: 20,
  fastRatio: 0.2,
  slowRatio: 5,
  smallRatio: 0.5,
  minBaselineMs: 10_000,
}

export type RunAnomalyCode = 'too-fast' | 'too-slow' | 'too-small'

export interface RunAnomaly {
  readonly code: RunAnomalyCode
  readonly actual: number
  readonly baseline: number
  readonly message: string
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** `history` is oldest first and excludes `run`. */
export function runAnomalies(
  history: readonly RunSample[],
  run: RunSample,
  t: AnomalyThresholds = defaultAnomalyThresholds,
): RunAnomaly[] {
  const recent = history.slice(-t.window)
  if (recent.length < t.minSamples) {
    return []
  }
  const out: RunAnomaly[] = []
  const d = median(recent.map((r) => r.durationMs))
  if (d >= t.minBaselineMs && run.durationMs < d * t.fastRatio) {
    out.push({
      code: 'too-fast',
      actual: run.durationMs,
      baseline: d,
      message: `finished in ${seconds(run.durationMs)}, usually ${seconds(d)}`,
    })
  }
  if (d > 0 && run.durationMs > d * t.slowRatio) {
    out.push({
      code: 'too-slow',
      actual: run.durationMs,
      baseline: d,
      message: `took ${seconds(run.durationMs)}, usually ${seconds(d)}`,
    })
  }
  const sized = recent.flatMap((r) => (r.bytes === undefined ? [] : [r.bytes]))
  if (run.bytes !== undefined && sized.length >= t.minSamples) {
    const b = median(sized)
    if (b > 0 && run.bytes < b * t.smallRatio) {
      out.push({
        code: 'too-small',
        actual: run.bytes,
        baseline: b,
        message: `wrote ${run.bytes} bytes, usually ${Math.round(b)}`,
      })
    }
  }
  return out
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`
}
