import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { signBatch, type Envelope } from '@backstop/shared'
import { copy, FakeAgent, ingestHarness, payload, type Harness } from '../support/harness.ts'

const N = 1000
/** The default: one line per kind of rejection and code per 10 s (mqtt.limits.logIntervalMs). */
const INTERVAL_MS = 10_000

/** An ingest on a clock the test moves by hand, with one enrolled node. */
async function setup(t: TestContext): Promise<{ h: Harness; a: FakeAgent; tick: (ms: number) => void }> {
  let now = Date.parse('2026-12-06T10:00:00Z')
  const h = ingestHarness(t, { now: () => now, batchSize: 250 })
  const a = new FakeAgent('pve1')
  await h.send('pve1', payload(a.enroll()))
  return { h, a, tick: (ms) => (now += ms) }
}

const linesOf = (h: Harness, msg: string, code: string): Record<string, unknown>[] =>
  h.lines.filter((l) => String(l['msg']).startsWith(msg) && l['code'] === code)

const rejectedInAcks = (h: Harness, code: string): number =>
  h.acks.flatMap((a) => a.body.rejected).filter((r) => r.code === code).length

describe('ingest rejections: every one counted and acked, logged with a rate limit (issue 12)', () => {
  it('1,000 bad signatures: one line in the window, counter 1,000; the next window logs again', async (t) => {
    const { h, a, tick } = await setup(t)
    const forged = (i: number): Envelope => ({ ...a.started(`r${i}`), sig: a.started('other').sig })
    await Promise.all(Array.from({ length: N }, (_, i) => h.send('pve1', payload(forged(i)))))

    assert.equal(h.counters.get('ingest_rejected_total', 'BK_ERR_SIG_INVALID'), N)
    assert.equal(rejectedInAcks(h, 'BK_ERR_SIG_INVALID'), N, 'each one is still answered in an ack')
    const lines = linesOf(h, 'message rejected', 'BK_ERR_SIG_INVALID')
    assert.equal(lines.length, 1, `one line for ${N} rejections, not ${lines.length}`)
    assert.equal(lines[0]?.['node'], 'pve1')
    assert.equal(typeof lines[0]?.['reason'], 'string', 'the line says why')
    assert.equal(typeof lines[0]?.['msgId'], 'string', 'and which message')

    tick(INTERVAL_MS)
    await h.send('pve1', payload(forged(N)))
    const after = linesOf(h, 'message rejected', 'BK_ERR_SIG_INVALID')
    assert.equal(after.length, 2, 'a new window logs again')
    assert.equal(after[1]?.['suppressed'], N - 1, 'with the number of rejections the first line stood for')
    assert.match(String(after[1]?.['msg']), new RegExp(`and ${N - 1} more like it`))
    assert.equal(h.counters.get('ingest_rejected_total', 'BK_ERR_SIG_INVALID'), N + 1)
  })

  it('1,000 unattributable messages (garbage): one line, dropped counter 1,000, nothing acked', async (t) => {
    const { h } = await setup(t)
    const acksBefore = h.acks.length
    await Promise.all(Array.from({ length: N }, (_, i) => h.send('pve1', Buffer.from(`{"v":1,"kind":${i}`))))
    assert.equal(h.counters.get('ingest_dropped_total', 'BK_ERR_WIRE_JSON'), N)
    assert.equal(h.acks.length, acksBefore)
    assert.equal(linesOf(h, 'message dropped', 'BK_ERR_WIRE_JSON').length, 1)
  })

  it('1,000 rejections by a handler (inside the batch transaction): one line, counter 1,000', async (t) => {
    const { h, a } = await setup(t)
    const orphan = (i: number) =>
      a.finished(`r${i}`, [copy(`c${i}`, { asset: { kind: 'file-set', id: 'fileset:etc', node: 'nobody' } })])
    await Promise.all(Array.from({ length: N }, (_, i) => h.send('pve1', payload(orphan(i)))))
    assert.equal(h.counters.get('ingest_rejected_total', 'BK_ERR_ASSET_OWNER_UNKNOWN'), N)
    assert.equal(rejectedInAcks(h, 'BK_ERR_ASSET_OWNER_UNKNOWN'), N)
    assert.equal(linesOf(h, 'message rejected', 'BK_ERR_ASSET_OWNER_UNKNOWN').length, 1)
  })

  it('1,000 bad events inside signed batches: one line, counter 1,000', async (t) => {
    const { h, a } = await setup(t)
    const bad = (i: number) => a.envelope('job.started', { runId: `b${i}` } as never)
    const batches = Array.from({ length: 4 }, (_, b) =>
      signBatch(
        {
          v: 1,
          kind: 'batch',
          node: 'pve1',
          msgId: `batch-${b}`,
          ts: new Date().toISOString(),
          body: { events: Array.from({ length: N / 4 }, (_, i) => bad(b * (N / 4) + i)) },
        },
        a.keys.secretKey,
      ),
    )
    await Promise.all(batches.map((b) => h.send('pve1', payload(b))))
    assert.equal(h.counters.get('ingest_rejected_total', 'BK_ERR_WIRE_SCHEMA'), N)
    assert.equal(linesOf(h, 'batched event rejected', 'BK_ERR_WIRE_SCHEMA').length, 1)
  })

  it('different codes are limited apart: each one gets its line', async (t) => {
    const { h, a } = await setup(t)
    const forged = { ...a.started('x'), sig: a.started('y').sig }
    await Promise.all([
      ...Array.from({ length: 10 }, () => h.send('pve1', payload(forged))),
      ...Array.from({ length: 10 }, () => h.send('pve1', payload({ ...a.started('v'), v: 2 }))),
    ])
    assert.equal(linesOf(h, 'message rejected', 'BK_ERR_SIG_INVALID').length, 1)
    assert.equal(linesOf(h, 'message rejected', 'BK_ERR_WIRE_VERSION').length, 1)
    assert.equal(h.counters.get('ingest_rejected_total', 'BK_ERR_SIG_INVALID'), 10)
    assert.equal(h.counters.get('ingest_rejected_total', 'BK_ERR_WIRE_VERSION'), 10)
  })
})
