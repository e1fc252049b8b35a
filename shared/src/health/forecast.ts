/**
 * Fill-date forecast for a backup target, as Proxmox Backup Server estimates a datastore's full date: "a simple
 * Linear Regression (Least Squares) of RRD data of the last Month. Missing if there are not enough data points
 * yet" (pbs-api-types `DataStoreStatusListItem.estimated_full_date`; computed in proxmox-backup
 * src/api2/status.rs) — a line through (time, used fraction) and the instant it crosses 1.0. Fewer than
 * `minPoints` samples, a flat or shrinking trend, or a degenerate time axis give no date.
 */
export interface UsagePoint {
  readonly at: string
  readonly usedBytes: number
  readonly sizeBytes: number
}

export interface FillForecast {
  /** When the target is projected to be full, or null when usage is not growing. */
  readonly fullAt: string | null
  readonly bytesPerDay: number
  readonly points: number
}

export const MIN_FORECAST_POINTS = 7
const DAY_MS = 86_400_000

export function forecastFull(points: readonly UsagePoint[], minPoints = MIN_FORECAST_POINTS): FillForecast | null {
  const usable = points.filter((p) => p.sizeBytes > 0 && Number.isFinite(Date.parse(p.at)))
  if (usable.length < minPoints) {
    return null
  }
  const xs = usable.map((p) => Date.parse(p.at))
  const ys = usable.map((p) => p.usedBytes / p.sizeBytes)
  const fit = linearRegression(xs, ys)
  if (fit === null) {
    return null
  }
  const latestSize = usable.reduce((a, b) => (Date.parse(a.at) >= Date.parse(b.at) ? a : b)).sizeBytes
  const bytesPerDay = fit.slope * DAY_MS * latestSize
  if (fit.slope <= 0) {
    return { fullAt: null, bytesPerDay, points: usable.length }
  }
  const fullMs = (1 - fit.intercept) / fit.slope
  // Beyond year 9999 toISOString throws; such a date means "not in any horizon we alert on".
  const fullAt = fullMs < 253402300799000 ? new Date(Math.max(fullMs, Math.min(...xs))).toISOString() : null
  return { fullAt, bytesPerDay, points: usable.length }
}

/** Ordinary least squares y = intercept + slope·x; null when all x are equal. x is centred for precision. */
export function linearRegression(
  xs: readonly number[],
  ys: readonly number[],
): { slope: number; intercept: number } | null {
  const n = xs.length
  if (n < 2 || ys.length !== n) {
    return null
  }
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let sxy = 0
  let sxx = 0
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx
    sxy += dx * (ys[i]! - my)
    sxx += dx * dx
  }
  if (sxx === 0) {
    return null
  }
  const slope = sxy / sxx
  return { slope, intercept: my - slope * mx }
}
