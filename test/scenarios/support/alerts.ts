import { waitFor } from '../../support/wait-for.ts'

/** An alert as GET /api/v1/alerts lists it (current state per key; a resolved one stays listed). */
export interface Alert {
  key: string
  kind: string
  node: string | null
  state: string
  severity: string
  summary: string
  since: string
}

/** An alert as a user reads it in the collector's list: `<state> <severity> <key>` (the key starts with the kind). */
export function alertLine(a: Alert): string {
  return `${a.state} ${a.severity} ${a.key}`
}

/**
 * Waits until `read()` lists exactly `expected` (alertLine, any order) and returns the list; on timeout it fails
 * quoting the list as it is. A run's alerts are raised in the ledger pass that records its verdict, so once the
 * expected ones are listed, any other alert of that run would be listed too.
 */
export async function alertsAre(
  read: () => Promise<Alert[]>,
  expected: readonly string[],
  what: string,
  timeoutMs = 15_000,
): Promise<Alert[]> {
  const want = JSON.stringify([...expected].sort())
  let seen: Alert[] = []
  return waitFor(
    async () => {
      seen = await read()
      return JSON.stringify(seen.map(alertLine).sort()) === want ? seen : undefined
    },
    { what: `${what}: the alerts ${want}`, timeoutMs },
  ).catch((e: Error) => {
    throw new Error(`${e.message}; listed: ${JSON.stringify(seen.map(alertLine).sort())}`)
  })
}

/**
 * A coverage gap about a zfs dataset or btrfs subvolume outside `own` (pool names, btrfs mountpoints): storage of
 * another scenario on the same machine, or of the machine itself.
 */
export function foreignGap(a: Alert, own: ReadonlySet<string>): boolean {
  const m = /^coverage-gap\/[^/]+\/(?:zfs-dataset|btrfs-subvolume)\/(.+)$/.exec(a.key)
  return m !== null && ![...own].some((o) => m[1] === o || m[1]!.startsWith(`${o}/`))
}
