import { randomUUID, type KeyObject } from 'node:crypto'
import { signEnvelope, type BodyOf, type Envelope } from '@backstop/shared'
import type { Logger } from 'pino'
import type { CheckpointsRepo, NodeWatermark } from '../store/checkpoints-repo.ts'
import type { EpochMs } from '../store/iso-time.ts'

/** What the self-backup reports after each backup it verified (integrity check, audit chain head). */
export interface VerifiedBackup {
  readonly path: string
  readonly takenAt: Date | string
  /** Per node, the highest seq contained in that backup (read from the backup file). */
  readonly highWater: ReadonlyMap<string, number>
}

export interface CheckpointServiceDeps {
  readonly repo: CheckpointsRepo
  readonly signingKey: KeyObject
  /** Retained, QoS 1, on backstop/v1/<node>/checkpoint (broker.publishCheckpoint). */
  readonly publish: (node: string, payload: Buffer) => void
  readonly now: () => EpochMs
  readonly log: Logger
}

export interface CheckpointService {
  /**
   * On start, before agents connect (the broker's retained store starts empty): per node the recorded checkpoint,
   * never above what this database holds. After a restore that is the checkpoint of the backup before the
   * restored one, or lower, so the agents resend everything the restored database lacks. Returns how many.
   */
  publishAll(): number
  /** After a verified backup: record its coverage per node, then publish it. */
  onVerifiedBackup(b: VerifiedBackup): void
  /** The node (re)subscribed: its checkpoint with the high-water mark as of now. False = not an enrolled node. */
  publishTo(node: string): boolean
}

export function createCheckpointService(d: CheckpointServiceDeps): CheckpointService {
  const send = (node: string, body: BodyOf<'checkpoint'>): void => {
    d.publish(node, Buffer.from(JSON.stringify(checkpointEnvelope(node, body, d.signingKey, new Date(d.now())))))
  }
  const current = (m: NodeWatermark): void =>
    send(m.node, {
      coveredSeq: Math.min(m.checkpoint?.coveredSeq ?? 0, m.highWater),
      collectorHighWater: m.highWater,
      ...(m.checkpoint ? { backupTakenAt: m.checkpoint.backupTakenAt } : {}),
    })
  return {
    publishTo(node) {
      const m = d.repo.watermarks().find((w) => w.node === node)
      if (m) {
        current(m)
      }
      return m !== undefined
    },
    publishAll() {
      const marks = d.repo.watermarks()
      marks.forEach(current)
      d.log.info({ nodes: marks.length }, 'published the retained checkpoint of every node')
      return marks.length
    },
    onVerifiedBackup(b) {
      const takenAt = new Date(b.takenAt).toISOString()
      d.repo.record(b.highWater, { path: b.path, takenAt }, d.now())
      for (const m of d.repo.watermarks()) {
        send(m.node, {
          coveredSeq: Math.min(b.highWater.get(m.node) ?? 0, m.highWater),
          collectorHighWater: m.highWater,
          backupTakenAt: takenAt,
        })
      }
      d.log.info({ backup: b.path, takenAt, nodes: b.highWater.size }, 'published checkpoints of a verified backup')
    },
  }
}

/** Signed by the collector key exactly like an ack (seq 0), so the agent verifies it against the pinned key. */
export function checkpointEnvelope(
  node: string,
  body: BodyOf<'checkpoint'>,
  key: KeyObject,
  now: Date,
): Envelope<'checkpoint'> {
  return signEnvelope(
    { v: 1, kind: 'checkpoint', node, msgId: `checkpoint-${randomUUID()}`, seq: 0, ts: now.toISOString(), body },
    key,
  )
}
