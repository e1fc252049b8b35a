import { alertTopics } from '@backstop/shared'
import type { MqttPublish } from './alert-service.ts'

/**
 * The collector's own retained status on `backstop/v1/alerts/collector/status` (under alerts/, so operator clients
 * read it with their alert subscription): `{"state":"online","ts":…,"version":…}` on start, `{"state":"offline",
 * "ts":…,"reason":"shutdown"}` on a graceful stop. The broker is embedded, so no Last Will can outlive the
 * collector: after a crash subscribers lose the broker connection itself, and the next start publishes `online`.
 */
export function collectorStatusPayload(
  state: 'online' | 'offline',
  now: Date,
  o: { readonly version?: string; readonly reason?: 'shutdown' } = {},
): string {
  return JSON.stringify(
    state === 'online'
      ? { state, ts: now.toISOString(), version: o.version }
      : { state, ts: now.toISOString(), reason: o.reason ?? 'shutdown' },
  )
}

export interface CollectorStatus {
  online(): void
  offline(): void
}

export function createCollectorStatus(publish: MqttPublish, now: () => Date, version: string): CollectorStatus {
  return {
    online: () =>
      publish(alertTopics.collectorStatus, collectorStatusPayload('online', now(), { version }), { retain: true }),
    offline: () =>
      publish(alertTopics.collectorStatus, collectorStatusPayload('offline', now(), { reason: 'shutdown' }), {
        retain: true,
      }),
  }
}
