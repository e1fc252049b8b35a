import assert from 'node:assert/strict'
import { test } from 'node:test'
import { checkMessage, createTokenCheck, type Checked } from '../../src/ingest/check.ts'
import type { KeyRing } from '../../src/ingest/key-ring.ts'
import type { Verifier } from '../../src/ingest/verifier.ts'
import { FakeAgent, ingestHarness, payload, TOKEN, workerVerifier } from '../support/harness.ts'

test('worker-pool verification gives the same verdicts as inline, and events keep per-node order', async (t) => {
  const h = ingestHarness(t, {
    batchSize: 50,
    verifier: workerVerifier({ chunk: 7 }),
  })
  const a = new FakeAgent('pve1')
  const b = new FakeAgent('nas1')
  await Promise.all([h.send('pve1', payload(a.enroll())), h.send('nas1', payload(b.enroll()))])
  const sends: Promise<void>[] = []
  const bad = { ...a.started('forged'), sig: a.started('x').sig }
  for (let i = 0; i < 120; i++) {
    sends.push(h.send('pve1', payload(a.started(`a${i}`))), h.send('nas1', payload(b.started(`b${i}`))))
    if (i === 60) {
      sends.push(h.send('pve1', payload(bad)), h.send('pve1', Buffer.from('{garbage')))
    }
  }
  await Promise.all(sends)
  for (const [node, agent] of [
    ['pve1', a],
    ['nas1', b],
  ] as const) {
    const rows = h.store.events.listByNode(node, 1000)
    assert.equal(rows.length, 120)
    const seqs = rows.map((r) => r.seq)
    assert.deepEqual(
      seqs,
      [...seqs].sort((x, y) => x - y),
      `${node} stored in publish order`,
    )
    assert.ok(agent)
  }
  const rejected = h.acks.flatMap((x) => x.body.rejected)
  assert.deepEqual(
    rejected.map((r) => [r.msgId, r.code]),
    [[bad.msgId, 'BK_ERR_SIG_INVALID']],
  )
  assert.equal(h.counters.get('ingest_dropped_total', 'BK_ERR_WIRE_JSON'), 1)
})

test('verdicts that complete out of order still enter the batch in arrival order', async (t) => {
  // A verifier that answers in reverse order once three messages are waiting.
  const held: (() => void)[] = []
  const reverse = (keys: KeyRing): Verifier => ({
    check: (node, p, done) => {
      const v: Checked = checkMessage(node, p, { keys, tokens: createTokenCheck([TOKEN]) })
      held.push(() => done(v))
      if (held.length === 3) {
        for (const f of held.splice(0).reverse()) {
          f()
        }
      }
    },
    close: async () => {},
  })
  const h = ingestHarness(t, { verifier: (keys) => reverse(keys) })
  const a = new FakeAgent('pve1')
  const envs = [a.enroll(), a.started('r1'), a.finished('r1')]
  // enroll first on its own (the key must be pinned before the others are checked)
  const first = h.send('pve1', payload(envs[0]))
  const e2 = [a.started('r2'), a.started('r3')]
  await Promise.all([first, ...e2.map((e) => h.send('pve1', payload(e)))])
  // r2/r3 were checked before the enrollment committed: rejected as transient, in order after the enroll
  assert.deepEqual(
    h.acks.flatMap((x) => [...x.body.acked, ...x.body.rejected.map((r) => `${r.msgId}:${r.code}`)]),
    [envs[0]!.msgId, `${e2[0]!.msgId}:BK_ERR_NODE_UNKNOWN`, `${e2[1]!.msgId}:BK_ERR_NODE_UNKNOWN`],
  )
  const three = [a.started('r4'), a.started('r5'), a.started('r6')]
  await Promise.all(three.map((e) => h.send('pve1', payload(e))))
  assert.deepEqual(
    h.store.events.listByNode('pve1', 10).map((r) => r.msgId),
    three.map((e) => e.msgId),
  )
})

test('a crashing verification worker loses nothing: its messages are checked inline', async (t) => {
  const h = ingestHarness(t, {
    verifier: workerVerifier({ workerUrl: new URL('../fixtures/workers/crash-worker.mjs', import.meta.url) }),
  })
  const a = new FakeAgent('pve1')
  await h.send('pve1', payload(a.enroll()))
  const good = a.started('r1')
  const forged = { ...a.started('r2'), sig: good.sig }
  await Promise.all([h.send('pve1', payload(good)), h.send('pve1', payload(forged))])
  assert.deepEqual(h.acks.at(-1)?.body.acked, [good.msgId])
  assert.deepEqual(
    h.acks.at(-1)?.body.rejected.map((r) => r.code),
    ['BK_ERR_SIG_INVALID'],
  )
  assert.ok(h.lines.some((l) => String(l['msg']).includes('verification worker crashed')))
})
