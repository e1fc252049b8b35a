import { openDataFile } from '@backstop/node-io'
import { join } from 'node:path'
import type { Envelope } from '@backstop/shared'
import { appendDurably, ioError } from './fs-util.ts'
import type { DeadLetterEntry } from './outbox.ts'

/** `<stateDir>/outbox/dead-letter.jsonl`: one JSON line per permanently rejected event, with the collector's reason. */
export const DEAD_LETTER_FILE = 'dead-letter.jsonl'

export interface DeadLetterRecord extends DeadLetterEntry {
  readonly seq: number
  readonly envelope: Envelope
}

/** Appended and fdatasync'd before the records leave the outbox, so a crash can duplicate a line, never lose one. */
export async function appendDeadLetters(dir: string, now: Date, records: readonly DeadLetterRecord[]): Promise<void> {
  const at = now.toISOString()
  const text = records
    .map(
      (r) =>
        `${JSON.stringify({ at, msgId: r.msgId, seq: r.seq, code: r.code, reason: r.reason, envelope: r.envelope })}\n`,
    )
    .join('')
  const path = join(dir, DEAD_LETTER_FILE)
  const fh = await openDataFile(path, 'a')
  try {
    await appendDurably(fh, Buffer.from(text, 'utf8'))
  } catch (e) {
    throw ioError(e, `writing ${records.length} dead-letter record(s) to ${path}`, dir)
  } finally {
    await fh.close()
  }
}
