import { FileOutbox } from '../../src/outbox/file-outbox.ts'
import { MemoryOutbox } from '../../src/outbox/memory-outbox.ts'
import { outboxContract } from './outbox-contract.ts'
import { captureLog, fixedClock, tempDir } from './support.ts'

outboxContract('MemoryOutbox', async (_t, opts) => new MemoryOutbox(opts))

outboxContract('FileOutbox', async (t, opts) => {
  const dir = tempDir(t)
  const ob = await FileOutbox.open({
    dir,
    maxBytes: opts.maxBytes,
    log: captureLog().log,
    clock: fixedClock,
    segmentBytes: 4096,
  })
  t.after(() => ob.close())
  return ob
})
