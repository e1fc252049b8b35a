import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { isBackstopError, type Envelope } from '@backstop/shared'
import { requirePlatform } from '../../../test/support/platform.ts'
import { FileOutbox } from '../../src/outbox/file-outbox.ts'
import { inspectOutbox } from '../../src/outbox/inspect.ts'
import type { OutboxRecord } from '../../src/outbox/outbox.ts'
import { captureLog, fixedClock, tempDir } from './support.ts'

function rec(i: number): (seq: number) => Envelope {
  return (seq) => ({
    v: 1,
    kind: 'job.progress',
    node: 'n',
    msgId: `m${i}`,
    seq,
    ts: '2026-11-22T03:00:00.000Z',
    body: { runId: 'r', job: 'j', percent: 1, message: 'x'.repeat(100) },
    sig: 'AA==',
  })
}

describe('FileOutbox: ownership and a full disk', () => {
  it('refuses a second owner with BK_ERR_OUTBOX_LOCKED; inspectOutbox reads numbers without the lock', async (t) => {
    const dir = tempDir(t)
    const ob = await FileOutbox.open({ dir, maxBytes: 1 << 20, log: captureLog().log, clock: fixedClock })
    t.after(() => ob.close())
    const recs = await Promise.all([1, 2, 3, 4].map((i) => ob.append(rec(i))))
    await ob.ack([recs[1]!.msgId])
    await assert.rejects(
      FileOutbox.open({ dir, maxBytes: 1 << 20, log: captureLog().log, clock: fixedClock }),
      (e) => isBackstopError(e, 'BK_ERR_OUTBOX_LOCKED') && e.message.includes(String(process.pid)),
    )
    const seen = await inspectOutbox(dir)
    assert.deepEqual(
      { pending: seen.pending, bytes: seen.bytes, oldestSeq: seen.oldestSeq, tornBytes: seen.tornBytes },
      { ...ob.stats(), oldestSeq: 1, tornBytes: 0 },
    )
  })

  it('takes over a lock holding our own pid that this process never took (pid reused after a reboot)', async (t) => {
    const dir = tempDir(t)
    writeFileSync(join(dir, 'outbox.lock'), `${process.pid}\n`)
    const ob = await FileOutbox.open({ dir, maxBytes: 1 << 20, log: captureLog().log, clock: fixedClock })
    t.after(() => ob.close())
    assert.equal((await ob.append(rec(1))).seq, 1)
  })

  it('takes over the lock of a process that is gone (kill -9)', async (t) => {
    const dir = tempDir(t)
    const dead = spawnSync(process.execPath, ['-e', '0']).pid
    writeFileSync(join(dir, 'outbox.lock'), `${dead}\n`)
    const { log, lines } = captureLog()
    const ob = await FileOutbox.open({ dir, maxBytes: 1 << 20, log, clock: fixedClock })
    t.after(() => ob.close())
    assert.ok(lines.some((l) => l['pid'] === dead && /taking over/.test(String(l['msg']))))
    assert.equal((await ob.append(rec(1))).seq, 1)
  })

  it('ENOSPC: a clear BK_ERR_OUTBOX_NO_SPACE, the file stays whole, appends resume once there is space', async (t) => {
    if (!requirePlatform(t, { root: true, commands: ['mount', 'umount'] })) {
      return
    }
    const base = mkdtempSync(join(tmpdir(), 'backstop-enospc-'))
    const mnt = join(base, 'mnt')
    mkdirSync(mnt)
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt], { encoding: 'utf8' })
    assert.equal(m.status, 0, `mount tmpfs: ${m.stderr}`)
    t.after(() => {
      // Lazy: an outbox left open by a failed assertion must not keep the mount (or the test) hanging.
      spawnSync('umount', ['-l', mnt])
      rmSync(base, { recursive: true, force: true })
    })
    writeFileSync(join(mnt, 'ballast'), Buffer.alloc(16 * 1024))
    const dir = join(mnt, 'outbox')
    const ob = await FileOutbox.open({ dir, maxBytes: 1 << 30, log: captureLog().log, clock: fixedClock })
    const ok: OutboxRecord[] = []
    let failure: unknown
    for (let i = 1; i <= 2000 && !failure; i++) {
      try {
        ok.push(await ob.append(rec(i)))
      } catch (e) {
        failure = e
      }
    }
    assert.ok(isBackstopError(failure, 'BK_ERR_OUTBOX_NO_SPACE'), `expected NO_SPACE, got ${String(failure)}`)
    assert.match((failure as Error).message, /ENOSPC.*Free space/)
    assert.equal(ob.stats().pending, ok.length)
    assert.ok(ok.length > 50, `${ok.length} records fit before the disk was full`)
    rmSync(join(mnt, 'ballast'))
    const after = await ob.append(rec(9999))
    assert.ok(after.seq > ok[ok.length - 1]!.seq, 'appends resume once space is free')
    await ob.close()
    const { log, lines } = captureLog()
    const again = await FileOutbox.open({ dir, maxBytes: 1 << 30, log, clock: fixedClock })
    const back = await again.readPending(0, 10_000)
    assert.deepEqual(
      back.map((r) => r.msgId),
      [...ok, after].map((r) => r.msgId),
      'every acknowledged-as-durable record is intact, nothing else',
    )
    assert.equal(
      lines.filter((l) => /torn record/.test(String(l['msg']))).length,
      0,
      'the failed write was rolled back, no torn tail',
    )
    await again.close()
  })
})
