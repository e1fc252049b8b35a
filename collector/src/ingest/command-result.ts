import { DUPLICATE, type Handler, recordOnce, STORED } from './types.ts'
import { isoOf } from '../store/iso-time.ts'

/**
 * Ingest handler for `command.result` (wired in index.ts): stored once like every durable event, then the
 * command's row moves forward and the outcome is audited — all inside the batch transaction, before the ack.
 */
export const applyCommandResult: Handler<'command.result'> = (msg, ctx) => {
  if (!recordOnce(msg, ctx)) {
    return DUPLICATE
  }
  ctx.store.commands.recordResult(msg.env.node, msg.env.body, isoOf(msg.receivedAt))
  return STORED
}
