import { BackstopError, MAX_MESSAGE_BYTES, type Envelope } from '@backstop/shared'
import { FRAME_HEADER_BYTES } from './frame.ts'

export interface Prepared {
  readonly envelope: Envelope
  readonly payload: Buffer
  /** Frame header + payload: what the record costs against `outbox.maxBytes`. */
  readonly bytes: number
}

export interface Usage {
  readonly pending: number
  readonly bytes: number
  readonly maxBytes: number
  /** Where the limit lives, for the error message (e.g. the outbox directory). */
  readonly where: string
}

/** Shared by every Outbox: build the envelope for `seq`, serialize it and check the size limits. */
export function prepareAppend(build: (seq: number) => Envelope, seq: number, usage: Usage): Prepared {
  const envelope = build(seq)
  if (envelope.seq !== seq) {
    throw new RangeError(
      `outbox assigned seq ${seq} but the envelope carries seq ${envelope.seq}: build must use the seq it is given`,
    )
  }
  const payload = Buffer.from(JSON.stringify(envelope), 'utf8')
  if (payload.length > MAX_MESSAGE_BYTES) {
    throw new BackstopError(
      'BK_ERR_WIRE_TOO_LARGE',
      `${envelope.kind} event ${envelope.msgId} is ${payload.length} bytes, ` +
        `the wire limit is ${MAX_MESSAGE_BYTES}; the collector would reject it, so it is not queued ` +
        '(split the report)',
    )
  }
  const bytes = FRAME_HEADER_BYTES + payload.length
  if (usage.bytes + bytes > usage.maxBytes) {
    throw new BackstopError(
      'BK_ERR_OUTBOX_FULL',
      `${usage.where} holds ${usage.pending} unacknowledged events (${usage.bytes} bytes); ` +
        `${bytes} more would exceed outbox.maxBytes = ${usage.maxBytes}. The collector is not acknowledging: check ` +
        '`backstop-agent status` (connected/enrolled), or raise outbox.maxBytes in the agent config',
    )
  }
  return { envelope, payload, bytes }
}
