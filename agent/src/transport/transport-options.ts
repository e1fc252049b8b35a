import type { ConnectionOptions } from 'node:tls'
import type { HeartbeatBody } from '@backstop/shared'
import type { Clock } from '../clock.ts'
import type { Log } from '../log.ts'
import type { Outbox } from '../outbox/outbox.ts'
import type { BackoffPolicy } from './backoff.ts'
import type { NodeSigner } from './signer.ts'

export interface TransportOptions {
  readonly url: string
  readonly node: string
  /** The node's key (keys.ts), as a native signer (signer.ts createSigner). */
  readonly signer: NodeSigner
  readonly outbox: Outbox
  readonly clock: Clock
  readonly log: Log
  readonly agentVersion: string
  readonly hostname: string
  readonly heartbeatMs: number
  /** The pinned collector key, or null before enrollment. */
  readonly collectorKey: string | null
  /** The enrollment token (config or token file); null = cannot enroll. Read only when needed. */
  readonly enrollmentToken: () => Promise<string | null>
  /** Persists the collector key from the enrollment ack (keys.ts saveCollectorKey). */
  readonly pinCollectorKey: (publicKey: string) => Promise<void>
  readonly heartbeatBody: () => HeartbeatBody
  /**
   * Whether this process speaks for the node's presence: Last Will, retained online/offline, heartbeats. The
   * daemon does; `once` does not (default true), so a one-shot run neither marks the node online nor leaves a
   * Will or a silent heartbeat behind that pages when it exits. Its events are delivered all the same.
   */
  readonly presence?: boolean
  /** Signed commands from backstop/v1/<node>/commands (commands/receive-command.ts); not subscribed when absent. */
  readonly onCommand?: (payload: Buffer) => void
  /** Events published but not yet acknowledged by the collector. Default 500. */
  readonly window?: number
  /** Most events per batch (docs/protocol.md "Batches"); 1 = never batch. Default MAX_BATCH_EVENTS (256). */
  readonly maxBatch?: number
  readonly backoff?: BackoffPolicy
  readonly enrollBackoff?: BackoffPolicy
  /** No ack for this long while events are in flight → replay from the oldest unacknowledged. Default 60 s. */
  readonly ackTimeoutMs?: number
  readonly connectTimeoutMs?: number
  readonly keepaliveS?: number
  /** TLS options for mqtts:// (transport/tls-trust-store.ts pinnedTlsForUrl). */
  readonly tls?: Pick<ConnectionOptions, 'ca' | 'rejectUnauthorized' | 'checkServerIdentity' | 'minVersion'>
  readonly random?: () => number
}

export interface TransportCounters {
  connects: number
  published: number
  acked: number
  deadLettered: number
  transientRejections: number
  forgedAcks: number
  invalidAcks: number
  replays: number
  heartbeats: number
  /** Batches published (their events count in `published`). */
  batches: number
  /** Batches the collector rejected as a whole; their events were resent one by one. */
  batchRejections: number
  /** Collector checkpoints applied (docs/reliability.md). */
  checkpoints: number
  /** Messages on the checkpoint topic not signed by the pinned collector key. */
  forgedCheckpoints: number
}

export interface TransportStatus {
  readonly connected: boolean
  readonly enrolled: boolean
  readonly enrollment: 'pinned' | 'pending' | 'waiting-for-token' | 'rejected'
  readonly collectorKeyFingerprint: string | null
  readonly inflight: number
  readonly lastError: string | null
  readonly lastConnectAt: string | null
  readonly lastAckAt: string | null
  readonly counters: Readonly<TransportCounters>
}
