import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { isBackstopError, verifyEnvelopeSignature } from '@backstop/shared'
import { systemClock } from '../src/clock.ts'
import type { ResolvedAgentConfig } from '../src/config/schema.ts'
import { loadCollectorKey, loadOrCreateNodeKey } from '../src/keys.ts'
import { createAgentRuntime, type AgentRuntime, type AgentRuntimeDeps } from '../src/runtime.ts'
import { captureLog, tempDir } from './outbox/support.ts'
import type { FakeCollector } from './transport/fake-collector.ts'
import { firstArrivalSeqs, startCollector, waitFor } from './transport/support.ts'

function configFor(fc: FakeCollector, stateDir: string, over: Partial<ResolvedAgentConfig> = {}): ResolvedAgentConfig {
  return {
    file: join(stateDir, 'agent.yaml'),
    node: 'node-r',
    stateDir,
    timezone: 'UTC',
    collector: { url: fc.url, enrollmentToken: fc.token, enrollmentTokenFile: null },
    outbox: { dir: join(stateDir, 'outbox'), maxBytes: 8 * 1024 * 1024 },
    heartbeatMs: 60_000,
    logLevel: 'info',
    jobs: [],
    ...over,
  }
}

async function runtime(
  t: TestContext,
  fc: FakeCollector,
  config: ResolvedAgentConfig,
  over: Partial<AgentRuntimeDeps> = {},
): Promise<AgentRuntime> {
  const rt = await createAgentRuntime({
    config,
    clock: systemClock,
    log: captureLog().log,
    hostname: 'node-r.test',
    transport: { backoff: { baseMs: 20, maxMs: 200 }, enrollBackoff: { baseMs: 50, maxMs: 200 } },
    ...over,
  })
  fc.beforeClose.push(() => rt.stop())
  return rt
}

const progress = (i: number) => ({ runId: `run-${i}`, job: 'etc', percent: i % 101 })

describe('agent runtime', () => {
  it('emit signs, persists and delivers; seqs are gap-free and arrive in order', async (t) => {
    const fc = await startCollector(t)
    const stateDir = tempDir(t, 'backstop-rt-')
    const rt = await runtime(t, fc, configFor(fc, stateDir))
    rt.start()
    const N = 300
    let t0 = performance.now()
    const envs = await Promise.all(Array.from({ length: N }, (_, i) => rt.emit('job.progress', progress(i + 1))))
    t.diagnostic(`emit ${N}: ${Math.round(performance.now() - t0)} ms`)
    t0 = performance.now()
    assert.deepEqual(
      envs.map((e) => e.seq),
      Array.from({ length: N }, (_, i) => i + 1),
    )
    const nodeKey = await loadOrCreateNodeKey(stateDir)
    for (const e of envs.slice(0, 5)) {
      assert.match(e.msgId, /^[0-9a-f-]{36}$/)
      assert.ok(Math.abs(Date.parse(e.ts) - Date.now()) < 60_000)
      assert.ok(verifyEnvelopeSignature(e, nodeKey.publicKey))
    }
    assert.equal(await rt.flush(30_000), true)
    t.diagnostic(`flush: ${Math.round(performance.now() - t0)} ms`)
    assert.deepEqual(
      fc.storedSeqs('node-r'),
      envs.map((e) => e.seq),
    )
    assert.deepEqual(
      firstArrivalSeqs(fc.received),
      envs.map((e) => e.seq),
    )
    assert.equal(await loadCollectorKey(stateDir), fc.keys.publicKey)
    const st = rt.status()
    assert.equal(st.connected, true)
    assert.equal(st.enrolled, true)
    assert.deepEqual({ pending: st.outbox.pending, bytes: st.outbox.bytes }, { pending: 0, bytes: 0 })
    assert.equal(st.transport.counters.acked, N)
  })

  it('refuses a body that does not match its schema without burning a seq', async (t) => {
    const fc = await startCollector(t)
    const rt = await runtime(t, fc, configFor(fc, tempDir(t, 'backstop-rt-')))
    await assert.rejects(
      rt.emit('job.progress', { runId: 'r', job: 'etc', percent: 250 }),
      (e) => isBackstopError(e, 'BK_ERR_WIRE_SCHEMA') && /percent/.test(e.message),
    )
    assert.equal((await rt.emit('job.progress', progress(1))).seq, 1)
  })

  it('after a restart: keeps its identity and pin, continues seqs, replays what was not acknowledged', async (t) => {
    const fc = await startCollector(t)
    const stateDir = tempDir(t, 'backstop-rt-')
    const first = await runtime(t, fc, configFor(fc, stateDir))
    first.start()
    await waitFor(() => first.status().enrolled, 'enrolled')
    const enrollsBefore = fc.enrolls.length
    fc.holdAcks = true
    for (let i = 1; i <= 20; i++) {
      await first.emit('job.progress', progress(i))
    }
    await waitFor(() => fc.stored.length === 20, 'delivered but not acknowledged')
    await first.stop()
    fc.holdAcks = false
    const second = await runtime(t, fc, configFor(fc, stateDir))
    assert.equal(second.status().outbox.pending, 20, 'unacknowledged events survived the restart')
    second.start()
    assert.equal((await second.emit('job.progress', progress(21))).seq, 21)
    assert.equal(await second.flush(30_000), true)
    assert.equal(fc.enrolls.length, enrollsBefore, 'no enrollment after the restart: the pin was kept')
    assert.deepEqual(
      fc.storedSeqs('node-r'),
      Array.from({ length: 21 }, (_, i) => i + 1),
    )
    assert.ok(
      fc.auth.some((a) => a.pinned && a.ok),
      'second start authenticated with its signed password',
    )
  })

  it('reads the enrollment token from a file and reports job states in heartbeats', async (t) => {
    const fc = await startCollector(t)
    const stateDir = tempDir(t, 'backstop-rt-')
    const tokenFile = join(stateDir, 'token')
    writeFileSync(tokenFile, `${fc.token}\n`, { mode: 0o600 })
    const rt = await runtime(
      t,
      fc,
      configFor(fc, stateDir, {
        collector: { url: fc.url, enrollmentToken: null, enrollmentTokenFile: tokenFile },
        heartbeatMs: 50,
      }),
    )
    rt.onJobStatus(() => [{ job: 'etc', nextRunAt: '2026-11-23T03:00:00.000Z', skippedOverlaps: 2, running: false }])
    rt.start()
    await waitFor(() => fc.heartbeats.length >= 2, 'heartbeats')
    const body = fc.heartbeats[0]!.body as { jobs: unknown[]; hostname: string; outbox: unknown }
    assert.deepEqual(body.jobs, [
      { job: 'etc', kind: 'unknown', nextRunAt: '2026-11-23T03:00:00.000Z', skippedOverlaps: 2 },
    ])
    assert.equal(body.hostname, 'node-r.test')
    assert.deepEqual(
      rt.status().jobs.map((j) => j.job),
      ['etc'],
    )
  })
})
