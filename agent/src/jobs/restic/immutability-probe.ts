import { randomBytes } from 'node:crypto'
import type { ResolvedResticJob } from './config.ts'

/**
 * Proves, with the agent's own credentials and without harm, that the repository refuses deletion: a DELETE of a
 * random, non-existent `data/<64 hex>` key. rest-server and `rclone serve restic` answer 403 only in append-only
 * mode; without it they answer 200 (rest-server) or 404 (rclone, recorded here) — the delete would have been
 * allowed. Anything else (401, 5xx, no answer) proves nothing either way: `unknown`, never immutable.
 */
export type ProbeOutcome =
  | { readonly state: 'append-only'; readonly detail: string }
  /** S3 (s3-lock-probe.ts): a canary's version was refused deletion until `retainUntil` (ISO). */
  | { readonly state: 'object-lock'; readonly detail: string; readonly retainUntil: string }
  | { readonly state: 'deletable'; readonly detail: string }
  | { readonly state: 'unknown'; readonly detail: string }

export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; signal: AbortSignal },
) => Promise<{ status: number }>

/** The REST endpoint URL (no `rest:` prefix, credentials moved to a Basic header) and its display form. */
export function restEndpoint(url: string): { base: string; headers: Record<string, string> } | null {
  if (!url.startsWith('rest:')) {
    return null
  }
  let u: URL
  try {
    u = new URL(url.slice('rest:'.length))
  } catch {
    return null
  }
  const headers: Record<string, string> = {}
  if (u.username !== '' || u.password !== '') {
    const user = decodeURIComponent(u.username)
    const pass = decodeURIComponent(u.password)
    headers['authorization'] = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`
    u.username = ''
    u.password = ''
  }
  const base = u.toString()
  return { base: base.endsWith('/') ? base : `${base}/`, headers }
}

/** Classifies the answer to the probe's DELETE (pure, table-tested). */
export function judgeDeleteStatus(status: number): 'append-only' | 'deletable' | 'unknown' {
  if (status === 403) {
    return 'append-only'
  }
  return status === 200 || status === 204 || status === 404 ? 'deletable' : 'unknown'
}

export async function probeAppendOnly(
  cfg: ResolvedResticJob,
  fetchFn: FetchLike = fetch as unknown as FetchLike,
  timeoutMs = 15_000,
): Promise<ProbeOutcome> {
  const where = cfg.repository.display
  const ep = restEndpoint(cfg.repository.url)
  if (ep === null) {
    return {
      state: 'unknown',
      detail:
        `${where}: a ${cfg.repository.backend} repository cannot be probed for append-only; ` + 'not counted immutable',
    }
  }
  const key = randomBytes(32).toString('hex')
  let status: number
  try {
    const r = await fetchFn(`${ep.base}data/${key}`, {
      method: 'DELETE',
      headers: ep.headers,
      signal: AbortSignal.timeout(timeoutMs),
    })
    status = r.status
  } catch (e) {
    return { state: 'unknown', detail: `${where}: the append-only probe got no answer: ${(e as Error).message}` }
  }
  const state = judgeDeleteStatus(status)
  const detail =
    state === 'append-only'
      ? `DELETE of the non-existent data/${key.slice(0, 12)}… was refused (403) with this node's credentials`
      : state === 'deletable'
        ? `DELETE of the non-existent data/${key.slice(0, 12)}… was accepted (${status}): this node may delete data`
        : `DELETE probe answered ${status}, which proves nothing`
  return { state, detail: `${where}: ${detail}` }
}
