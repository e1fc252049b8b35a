import type { TSchema } from 'typebox'
import {
  AckBody,
  EnrollBody,
  HeartbeatBody,
  InventoryBody,
  JobFinishedBody,
  JobProgressBody,
  JobStartedBody,
} from './messages.ts'
import { DiskHealthBody } from './disk-health.ts'
import { CommandResultBody } from './command.ts'
import { JobsDeclaredBody } from './jobs-declared.ts'
import { CheckpointBody, OutboxRetentionBody } from './checkpoint.ts'

/**
 * The table of message kinds: kind → body schema and direction. Adding a kind here makes every exhaustive
 * switch over `MessageKind` (the collector's ingest dispatcher) fail to compile until it is handled.
 * An event batch (`kind: 'batch'`, schemas/batch.ts) is deliberately not in this table: it is a signed container
 * of these kinds, unpacked before dispatch, never stored or acked as itself.
 */
export const messageKinds = {
  heartbeat: { body: HeartbeatBody, from: 'agent' },
  enroll: { body: EnrollBody, from: 'agent' },
  'job.started': { body: JobStartedBody, from: 'agent' },
  'job.progress': { body: JobProgressBody, from: 'agent' },
  'job.finished': { body: JobFinishedBody, from: 'agent' },
  inventory: { body: InventoryBody, from: 'agent' },
  'jobs.declared': { body: JobsDeclaredBody, from: 'agent' },
  'disk.health': { body: DiskHealthBody, from: 'agent' },
  'command.result': { body: CommandResultBody, from: 'agent' },
  'outbox.retention': { body: OutboxRetentionBody, from: 'agent' },
  ack: { body: AckBody, from: 'collector' },
  checkpoint: { body: CheckpointBody, from: 'collector' },
} as const satisfies Record<string, { body: TSchema; from: 'agent' | 'collector' }>

export type MessageKind = keyof typeof messageKinds
export type AgentMessageKind = {
  [K in MessageKind]: (typeof messageKinds)[K]['from'] extends 'agent' ? K : never
}[MessageKind]
export const messageKindNames = Object.keys(messageKinds) as MessageKind[]
