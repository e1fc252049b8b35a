import type { AlertFlip } from '@backstop/shared'
import type { ChannelKind } from '../store/notify-repo.ts'

export interface OutboundRequest {
  readonly url: string
  readonly headers: Record<string, string>
  readonly body: string
}

/** HTTP headers are Latin-1; alert text may not be. */
const ascii = (s: string): string => s.replace(/[^\x20-\x7e]/g, '?').slice(0, 200)

const PRIORITY = { info: '3', warning: '4', critical: '5' } as const

/**
 * Generic webhook: the flip as JSON. ntfy: POST to the topic URL with the summary as the message and
 * Title / Priority / Tags headers (docs.ntfy.sh/publish); any ntfy-compatible server (ntfy, gotify bridges) works.
 */
export function buildRequest(kind: ChannelKind, url: string, f: AlertFlip): OutboundRequest {
  if (kind === 'webhook') {
    return {
      url,
      headers: { 'content-type': 'application/json', 'user-agent': 'backstop-collector' },
      body: JSON.stringify({
        source: 'backstop',
        key: f.key,
        kind: f.kind,
        node: f.node ?? null,
        from: f.from,
        to: f.to,
        severity: f.severity,
        summary: f.summary,
        at: new Date(f.at).toISOString(),
      }),
    }
  }
  const resolved = f.to === 'resolved'
  return {
    url,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      title: ascii(`${resolved ? 'RESOLVED' : f.severity.toUpperCase()}: ${f.kind} ${f.node ?? ''}`.trim()),
      priority: resolved ? '3' : PRIORITY[f.severity],
      tags: resolved ? 'white_check_mark' : f.severity === 'critical' ? 'rotating_light' : 'warning',
    },
    body: f.summary,
  }
}

export type DeliveryOutcome = { ok: true } | { ok: false; permanent: boolean; error: string }

/** Transient: network errors, timeouts, 408, 425, 429, 5xx. Everything else 4xx is permanent (bad URL, auth). */
export function classifyStatus(status: number): DeliveryOutcome {
  if (status >= 200 && status < 300) {
    return { ok: true }
  }
  const transient = status === 408 || status === 425 || status === 429 || status >= 500
  return { ok: false, permanent: !transient, error: `HTTP ${status}` }
}
