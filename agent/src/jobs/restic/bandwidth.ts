/** `10M` → 10240: restic limits in KiB/s; bare bytes round up, so a limit never becomes 0 (unlimited). */
export function kibPerSecond(rate: string): number {
  const unit = { K: 1, M: 1024, G: 1024 * 1024 }[rate.slice(-1)]
  return unit === undefined ? Math.max(1, Math.ceil(Number(rate) / 1024)) : Number(rate.slice(0, -1)) * unit
}
