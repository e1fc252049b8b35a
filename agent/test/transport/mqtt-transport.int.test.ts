import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { keyPairFromSeed, verifyEnvelopeSignature } from '@backstop/shared'
import type { Clock } from '../../src/clock.ts'
import { MemoryOutbox } from '../../src/outbox/memory-outbox.ts'
import { createSigner } from '../../src/transport/signer.ts'
import { agentEvent, agentKeys, firstArrivalSeqs, makeTransport, startCollector, waitFor } from './support.ts'

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i)

describe('MqttTransport against aedes + a fake collector', () => {
  it('enrolls, pins the collector key, then drains the outbox in seq order', async (t) => {
    const fc = await startCollector(t)
    const outbox = new MemoryOutbox({ maxBytes: 1 << 20 })
    for (let i = 1; i <= 30; i++) {
      await outbox.append(agentEvent(i))
    }
    const { tr, pinned } = makeTransport(t, fc, outbox)
    tr.start()
    await waitFor(() => outbox.stats().pending === 0, 'outbox drained')
    assert.equal(fc.pinned.get('node-a'), agentKeys.publicKey, 'collector pinned the agent key')
    assert.deepEqual(pinned, [fc.keys.publicKey], 'agent pinned the collector key once')
    assert.equal(fc.enrolls[0]!.seq, 0)
    assert.deepEqual(fc.storedSeqs('node-a'), range(1, 30))
    assert.deepEqual(firstArrivalSeqs(fc.received), range(1, 30))
    for (let i = 31; i <= 40; i++) {
      await outbox.append(agentEvent(i))
    }
    tr.kick()
    await waitFor(() => outbox.stats().pending === 0, 'new events drained')
    assert.deepEqual(fc.storedSeqs('node-a'), range(1, 40))
    const st = tr.status()
    assert.equal(st.connected, true)
    assert.equal(st.enrolled, true)
    assert.equal(st.counters.acked, 40)
    assert.deepEqual(
      fc.statuses.map((s) => s.state),
      ['online'],
    )
    await tr.stop()
    await waitFor(() => fc.statuses.length === 2, 'offline status on stop')
    assert.equal(fc.statuses[1]!.state, 'offline')
  })

  it('retries enrollment with backoff until the collector answers', async (t) => {
    const fc = await startCollector(t)
    fc.ignoreEnrolls = 2
    const { tr } = makeTransport(t, fc, new MemoryOutbox({ maxBytes: 1 << 20 }))
    tr.start()
    await waitFor(() => tr.status().enrolled, 'enrolled after retries')
    assert.ok(fc.enrolls.length >= 3, `${fc.enrolls.length} enroll attempts`)
    assert.equal(new Set(fc.enrolls.map((e) => e.msgId)).size, fc.enrolls.length, 'each attempt is a new message')
  })

  it('reports a rejected enrollment (wrong token) and never pins', async (t) => {
    const fc = await startCollector(t, 'the-right-token')
    const { tr, pinned, lines } = makeTransport(t, fc, new MemoryOutbox({ maxBytes: 1 << 20 }), {
      enrollmentToken: async () => 'wrong',
    })
    tr.start()
    await waitFor(() => tr.status().enrollment === 'rejected', 'enrollment rejected')
    assert.deepEqual(pinned, [])
    assert.ok(lines.some((l) => l['code'] === 'BK_ERR_ENROLL_TOKEN'))
  })

  it('signs CONNECT for a pinned node; a node with the wrong key is refused and keeps retrying', async (t) => {
    const fc = await startCollector(t)
    fc.pinned.set('node-a', agentKeys.publicKey)
    const good = makeTransport(t, fc, new MemoryOutbox({ maxBytes: 1 << 20 }), { collectorKey: fc.keys.publicKey })
    good.tr.start()
    await waitFor(() => good.tr.status().connected, 'connected with a signed password')
    assert.deepEqual(fc.auth, [{ node: 'node-a', ok: true, pinned: true }])
    await good.tr.stop()
    const impostor = makeTransport(t, fc, new MemoryOutbox({ maxBytes: 1 << 20 }), {
      collectorKey: fc.keys.publicKey,
      signer: createSigner(keyPairFromSeed(new Uint8Array(32).fill(66))),
    })
    impostor.tr.start()
    await waitFor(() => fc.auth.filter((a) => !a.ok).length >= 2, 'refused twice (retrying)')
    assert.equal(impostor.tr.status().connected, false)
    assert.match(impostor.tr.status().lastError ?? '', /Bad username or password|bad user/i)
  })

  it('ignores and counts forged acks; replays everything unacknowledged after a reconnect', async (t) => {
    const fc = await startCollector(t)
    const outbox = new MemoryOutbox({ maxBytes: 1 << 20 })
    const { tr } = makeTransport(t, fc, outbox)
    tr.start()
    await waitFor(() => tr.status().enrolled, 'enrolled')
    fc.holdAcks = true
    const recs = []
    for (let i = 1; i <= 5; i++) {
      recs.push(await outbox.append(agentEvent(i)))
    }
    tr.kick()
    await waitFor(() => fc.stored.length === 5, 'collector committed 5 (acks held back)')
    await fc.publishAck(
      'node-a',
      { acked: recs.map((r) => r.msgId), rejected: [] },
      keyPairFromSeed(new Uint8Array(32).fill(99)),
    )
    await waitFor(() => tr.status().counters.forgedAcks === 1, 'forged ack counted')
    assert.equal(outbox.stats().pending, 5, 'a forged ack removes nothing')
    fc.holdAcks = false
    fc.dropConnections()
    await waitFor(() => outbox.stats().pending === 0, 'replayed and acked after reconnect')
    assert.ok(tr.status().counters.connects >= 2)
    assert.deepEqual(fc.storedSeqs('node-a'), range(1, 5), 'stored exactly once, in order')
    assert.ok(fc.received.filter((e) => e.seq > 0).length >= 10, 'the replay resent all five')
    assert.ok(
      fc.statuses.some((s) => s.state === 'offline'),
      'Last Will published on the abrupt drop',
    )
    assert.equal(fc.statuses[fc.statuses.length - 1]!.state, 'online')
  })

  it('dead-letters permanent rejections and retries transient ones', async (t) => {
    const fc = await startCollector(t)
    let transientLeft = 2
    fc.reject = (env) => {
      if (env.seq === 3) {
        return { code: 'BK_ERR_WIRE_SCHEMA', reason: 'job.progress body: /percent too big', permanent: true }
      }
      if (env.seq === 4 && transientLeft > 0) {
        transientLeft--
        return { code: 'BK_ERR_NODE_UNKNOWN', reason: 'not yet', permanent: false }
      }
      return undefined
    }
    const outbox = new MemoryOutbox({ maxBytes: 1 << 20 })
    for (let i = 1; i <= 6; i++) {
      await outbox.append(agentEvent(i))
    }
    const { tr } = makeTransport(t, fc, outbox)
    tr.start()
    await waitFor(() => outbox.stats().pending === 0, 'all settled')
    assert.deepEqual(
      outbox.deadLetters.map((d) => [d.envelope.seq, d.code]),
      [[3, 'BK_ERR_WIRE_SCHEMA']],
    )
    assert.deepEqual(
      [...fc.storedSeqs('node-a')].sort((a, b) => a - b),
      [1, 2, 4, 5, 6],
    )
    assert.equal(tr.status().counters.transientRejections, 2)
    assert.equal(tr.status().counters.deadLettered, 1)
  })

  it('sends signed heartbeats (seq 0, not through the outbox) every heartbeatMs', async (t) => {
    const fc = await startCollector(t)
    const outbox = new MemoryOutbox({ maxBytes: 1 << 20 })
    const { tr } = makeTransport(t, fc, outbox, { heartbeatMs: 50 })
    tr.start()
    await waitFor(() => fc.heartbeats.length >= 3, '3 heartbeats')
    for (const hb of fc.heartbeats) {
      assert.equal(hb.seq, 0)
      assert.ok(verifyEnvelopeSignature(hb, agentKeys.publicKey))
    }
    assert.deepEqual(outbox.stats(), { pending: 0, bytes: 0 })
  })

  it('keeps at most `window` events in flight', async (t) => {
    const fc = await startCollector(t)
    const outbox = new MemoryOutbox({ maxBytes: 1 << 22 })
    const { tr } = makeTransport(t, fc, outbox, { window: 8 })
    tr.start()
    await waitFor(() => tr.status().enrolled, 'enrolled')
    fc.holdAcks = true
    for (let i = 1; i <= 50; i++) {
      await outbox.append(agentEvent(i))
    }
    tr.kick()
    await waitFor(() => fc.stored.length === 8, '8 in flight')
    await new Promise((r) => setTimeout(r, 200))
    assert.equal(fc.stored.length, 8, 'no more than the window without acks')
    assert.equal(tr.status().inflight, 8)
    fc.holdAcks = false
    await fc.publishAck('node-a', { acked: fc.stored.map((e) => e.msgId), rejected: [] })
    await waitFor(() => outbox.stats().pending === 0, 'drained once acks flow')
    assert.deepEqual(fc.storedSeqs('node-a'), range(1, 50))
  })
})

describe('MqttTransport reconnect', () => {
  it('backs off while the broker is down, reconnects when it returns and replays in order', async (t) => {
    const fc = await startCollector(t)
    const outbox = new MemoryOutbox({ maxBytes: 1 << 20 })
    const { tr } = makeTransport(t, fc, outbox)
    tr.start()
    await waitFor(() => tr.status().enrolled, 'enrolled')
    fc.holdAcks = true
    for (let i = 1; i <= 10; i++) {
      await outbox.append(agentEvent(i))
    }
    tr.kick()
    await waitFor(() => fc.stored.length === 10, 'delivered, acks held back')
    const port = fc.port
    await fc.stopListening()
    await waitFor(() => /ECONNREFUSED/.test(tr.status().lastError ?? ''), 'connection refused while down')
    const connects = tr.status().counters.connects
    assert.equal(tr.status().connected, false)
    fc.holdAcks = false
    await fc.listen(port)
    await waitFor(() => outbox.stats().pending === 0, 'replayed after the broker came back')
    assert.equal(tr.status().counters.connects, connects + 1)
    assert.deepEqual(fc.storedSeqs('node-a'), range(1, 10))
  })
})

describe('MqttTransport ack watchdog', () => {
  it('replays in-flight events if no ack arrives within ackTimeoutMs (a receipt lost after the PUBACK)', async (t) => {
    const fc = await startCollector(t)
    const outbox = new MemoryOutbox({ maxBytes: 1 << 20 })
    const { tr } = makeTransport(t, fc, outbox, { ackTimeoutMs: 300 })
    tr.start()
    await waitFor(() => tr.status().enrolled, 'enrolled')
    fc.holdAcks = true
    for (let i = 1; i <= 3; i++) {
      await outbox.append(agentEvent(i))
    }
    tr.kick()
    await waitFor(() => tr.status().counters.replays >= 1, 'watchdog replay')
    await waitFor(() => fc.received.filter((e) => e.seq === 1).length >= 2, 'seq 1 sent again')
    assert.equal(tr.status().counters.connects, 1, 'replayed without reconnecting')
    fc.holdAcks = false
    await waitFor(() => outbox.stats().pending === 0, 'acked after the replay')
    assert.deepEqual(fc.storedSeqs('node-a'), [1, 2, 3])
  })
})

describe('MqttTransport backoff through the injected clock', () => {
  it('waits 500, 1000, 2000, 4000, 4000 … ms between refused attempts (base 1 s, max 8 s, no jitter)', async (t) => {
    const fc = await startCollector(t)
    const port = fc.port
    await fc.stopListening()
    const waits: number[] = []
    const clock: Clock = {
      now: () => new Date(),
      // Record what the transport asks for, but do not really wait that long.
      sleepUntil: (until, signal) => {
        waits.push(until.getTime() - Date.now())
        return new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, 5)
          signal?.addEventListener(
            'abort',
            () => {
              clearTimeout(timer)
              reject(signal.reason)
            },
            { once: true },
          )
        })
      },
    }
    const { tr } = makeTransport(t, fc, new MemoryOutbox({ maxBytes: 1 << 20 }), {
      url: `mqtt://127.0.0.1:${port}`,
      clock,
      random: () => 0,
      backoff: { baseMs: 1000, maxMs: 8000 },
    })
    tr.start()
    await waitFor(() => waits.length >= 6, '6 backoff waits')
    await tr.stop()
    const rounded = waits.slice(0, 6).map((w) => Math.round(w / 100) * 100)
    assert.deepEqual(rounded, [500, 1000, 2000, 4000, 4000, 4000])
  })
})
