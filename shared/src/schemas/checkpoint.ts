import Type from 'typebox'
import { Bytes, IsoTimestamp } from './common.ts'

/**
 * Collector → agent, retained on `backstop/v1/<node>/checkpoint` (docs/reliability.md "Checkpoints"): what of
 * this node's events a verified backup of the collector's database holds, and what the collector holds right now.
 * Signed by the collector key like an ack (seq 0): only a checkpoint that verifies against the pinned key may make
 * an agent release kept events or resend them.
 */
export const CheckpointBody = Type.Object(
  {
    /** Highest seq of this node contained in the collector's newest verified backup; 0 = no backup covers any. */
    coveredSeq: Type.Integer({ minimum: 0 }),
    /**
     * Highest seq of this node the collector has committed, when this checkpoint was published. Below what the
     * agent had acknowledged, the collector lost events (it was restored from a backup): the agent resends its
     * kept events after `coveredSeq`.
     */
    collectorHighWater: Type.Integer({ minimum: 0 }),
    /** When that backup was taken; absent while no verified backup exists. */
    backupTakenAt: Type.Optional(IsoTimestamp),
  },
  { additionalProperties: false },
)

/**
 * Agent → collector: the state of the outbox's kept events (acknowledged, not yet covered by a collector backup),
 * sent when it changes. The collector turns it into the `outbox-backlog` and `outbox-uncovered` alerts.
 */
export const OutboxRetentionBody = Type.Object(
  {
    /** `backlog`: the outbox keeps more than its alert threshold (oldest kept event too old, or too many bytes). */
    state: Type.Union([Type.Literal('ok'), Type.Literal('backlog')]),
    keptEvents: Bytes,
    keptBytes: Bytes,
    oldestKeptAt: Type.Optional(IsoTimestamp),
    /** The newest checkpoint the agent applied (its `coveredSeq`). */
    checkpointSeq: Type.Integer({ minimum: 0 }),
    /**
     * Highest seq released although no verified backup covered it (the size/age bound forced it, or the collector
     * was restored to a backup older than one that had covered it); 0 = none. Uncovered while > checkpointSeq.
     */
    uncoveredThrough: Type.Integer({ minimum: 0 }),
    /** Set when the collector came back with fewer of this node's events than the agent had released: lost. */
    lost: Type.Optional(
      Type.Object(
        { fromSeq: Type.Integer({ minimum: 1 }), toSeq: Type.Integer({ minimum: 1 }) },
        { additionalProperties: false },
      ),
    ),
    /** The configured bounds (agent config `outbox.keep`), so the alert can say which one is near. */
    limits: Type.Object(
      { maxBytes: Bytes, maxAgeHours: Bytes, alertAfterHours: Bytes },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)
