import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import fc from 'fast-check'
import { privateKeyObject, publicKeyObject } from '@backstop/shared'
import { checkMessage, createTokenCheck } from '../../collector/src/ingest/check.ts'
import { createKeyRing } from '../../collector/src/ingest/key-ring.ts'
import { createIngest } from '../../collector/src/ingest/pipeline.ts'
import { createCounters } from '../../collector/src/metrics/counters.ts'
import { createDiskHealthStore } from '../../collector/src/health/disk-health-store.ts'
import { createAuditLog } from '../../collector/src/audit/audit-log.ts'
import { composeIdentity } from '../../collector/src/compose/identity.ts'
import { createInlineVerifier } from '../../collector/src/ingest/verifier.ts'
import { systemClock } from '../../collector/src/time/clock.ts'
import { createAssetsRepo } from '../../collector/src/store/assets-repo.ts'
import { createCopiesRepo } from '../../collector/src/store/copies-repo.ts'
import { openDb } from '../../collector/src/store/db.ts'
import { createEventsRepo } from '../../collector/src/store/events-repo.ts'
import { createNodesRepo } from '../../collector/src/store/nodes-repo.ts'
import { createRunsRepo } from '../../collector/src/store/runs-repo.ts'
import { captureLog, FakeAgent, nodeKeys, TOKEN } from '../../collector/test/support/harness.ts'
import { type Hostile, hostile } from './hostile-arbitraries.ts'

/**
 * Hostile input, in-process (test/fuzz/mqtt-sample.test.ts sends a sample over real MQTT):
 * 1. ≥ 1,000,000 messages through the ingest's check stage (decode → topic → key → signature → schema → token,
 *    `checkMessage`, what every MQTT payload meets first): 10,000 structurally diverse hostile bases from
 *    fast-check, each message one of them with a fast-check-chosen mutation (byte flip, truncation, splice,
 *    concatenation). Never a throw, never accepted unless byte-identical to a genuinely signed envelope, heap flat.
 * 2. FUZZ_PIPELINE_MESSAGES (default 50,000) fully generated messages through the whole pipeline (batcher,
 *    SQLite transaction, signed acks): all settled and counted, nothing stored.
 */
const TOTAL = Number(process.env['FUZZ_PIPELINE_MESSAGES'] ?? 50_000)
const CHECK_TOTAL = Number(process.env['FUZZ_MESSAGES'] ?? 1_000_000)
/** The counts as the test titles print them, with thousands separators. */
const TOTAL_TEXT = TOTAL.toLocaleString('en')
const CHECK_TEXT = CHECK_TOTAL.toLocaleString('en')
const CHUNK = 10_000
const WINDOW = 2_000

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

function heapMiB(): number {
  gc()
  return process.memoryUsage().heapUsed / 2 ** 20
}

describe('ingest fuzz: hostile messages', { timeout: 15 * 60_000 }, () => {
  it(`${CHECK_TEXT} mutated messages at the check stage: no throw, none accepted unless genuine, heap flat`, () => {
    const enrolled = new FakeAgent('fz1')
    const pinned = publicKeyObject(enrolled.keys.publicKey)!
    const deps = {
      keys: { get: (n: string) => (n === 'fz1' ? { publicKey: enrolled.keys.publicKey, key: pinned } : undefined) },
      tokens: createTokenCheck([TOKEN]),
    }
    const stored = Array.from({ length: 50 }, (_, i) =>
      enrolled.envelope('job.started', {
        runId: `r${i}`,
        job: 'daily',
        jobKind: 'zfs',
        startedAt: '2026-11-22T01:00:00.000Z',
        trigger: 'schedule',
      }),
    )
    const canonicalSig = (raw: Buffer | string): string => {
      const v = JSON.parse(raw.toString()) as { sig: string }
      return JSON.stringify({ ...v, sig: Buffer.from(v.sig, 'base64').toString('base64') })
    }
    const genuine = new Set(stored.map((e) => canonicalSig(JSON.stringify(e))))
    const bases: Hostile[] = fc.sample(hostile({ enrolled, stored }), { numRuns: 10_000, seed: 7 })
    const recipe = fc.tuple(fc.nat(bases.length - 1), fc.nat(4), fc.nat(), fc.nat(255), fc.nat(bases.length - 1))
    const codes = new Map<string, number>()
    let accepted = 0
    const started = Date.now()
    let heapAtTenth = 0
    for (let done = 0; done < CHECK_TOTAL; done += 50_000) {
      const recipes = fc.sample(recipe, { numRuns: Math.min(50_000, CHECK_TOTAL - done), seed: 99 + done })
      for (const [bi, kind, pos, byte, other] of recipes) {
        const base = bases[bi]!
        let p = base.payload
        const at = p.length === 0 ? 0 : pos % p.length
        if (p.length > 65_536) {
          // Oversized bases: only zero-copy mutations (copying a MiB per message would dominate the run).
          p = kind === 2 ? p.subarray(0, Math.max(at, 65_536 + 1024 * 1024)) : p
        } else if (kind === 1 && p.length > 0) {
          p = Buffer.from(p)
          p[at] = byte
        } else if (kind === 2) {
          p = p.subarray(0, at)
        } else if (kind === 3) {
          p = Buffer.concat([p.subarray(0, at), bases[other]!.payload.subarray(0, 64), p.subarray(at)])
        } else if (kind === 4) {
          p = Buffer.concat([p, bases[other]!.payload.subarray(0, 256)])
        }
        const v = checkMessage(base.topicNode, p, deps)
        if (v.ok) {
          accepted++
          // Whitespace around a genuine envelope, or its signature in a non-canonical base64 spelling (the unused
          // low bits before '=='), is still that envelope: same signed value, same signature bytes, same msgId.
          assert.ok(
            base.topicNode === 'fz1' && genuine.has(canonicalSig(p)),
            `accepted something that is not a genuine envelope (mutation ${kind} at ${at}, byte ${byte}, ` +
              `topic ${base.topicNode}): ${p.toString()} vs base ${base.payload.toString()}`,
          )
        } else {
          codes.set(v.code, (codes.get(v.code) ?? 0) + 1)
        }
      }
      if (done === Math.floor(CHECK_TOTAL / 10 / 50_000) * 50_000) {
        heapAtTenth = heapMiB()
      }
    }
    const seconds = (Date.now() - started) / 1000
    const heapEnd = heapMiB()
    const summary = {
      total: CHECK_TOTAL,
      seconds,
      perSecond: Math.round(CHECK_TOTAL / seconds),
      acceptedGenuineReplays: accepted,
      heapAtTenthMiB: Math.round(heapAtTenth),
      heapEndMiB: Math.round(heapEnd),
      rejectedByCode: Object.fromEntries(codes),
    }
    console.log(`# fuzz-check ${JSON.stringify(summary)}`)
    assert.equal(accepted + [...codes.values()].reduce((a, b) => a + b, 0), CHECK_TOTAL)
    assert.ok(codes.size >= 8, `many distinct rejection codes: ${[...codes.keys()].join(', ')}`)
    assert.ok(heapEnd - heapAtTenth < 64, `heap grew ${Math.round(heapEnd - heapAtTenth)} MiB`)
  })

  it(`${TOTAL_TEXT} generated messages through the pipeline: all counted, nothing stored, heap bounded`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-fuzz-'))
    const { db } = openDb({ file: join(dir, 'c.db') })
    t.after(() => {
      db.close()
      rmSync(dir, { recursive: true, force: true })
    })
    const store = {
      nodes: createNodesRepo(db),
      events: createEventsRepo(db),
      runs: createRunsRepo(db),
      copies: createCopiesRepo(db),
      assets: createAssetsRepo(db),
      commands: { recordResult: () => false },
      diskHealth: createDiskHealthStore(db),
    }
    const enrolled = new FakeAgent('fz1')
    store.nodes.insert({
      node: 'fz1',
      publicKey: enrolled.keys.publicKey,
      fingerprint: 'fp',
      enrolledAt: Date.now(),
      hostname: 'fz1',
      agentVersion: '0.1.0',
    })
    const keys = createKeyRing(store.nodes)
    const counters = createCounters()
    const collector = nodeKeys()
    let acks = 0
    const tokens = createTokenCheck([TOKEN])
    const ingest = createIngest({
      db,
      store,
      keys,
      counters,
      log: captureLog('fatal').log,
      now: () => Date.now(),
      tokens,
      collector: { publicKey: collector.publicKey, signingKey: privateKeyObject(collector.secretKey) },
      publishAck: () => {
        acks++
      },
      batchSize: 1000,
      batchIntervalMs: 2,
      verifier: createInlineVerifier({ keys, tokens }),
      admitEnroll: composeIdentity({ db, audit: createAuditLog(db), clock: systemClock, staticTokens: tokens })
        .admitEnroll,
    })
    const send = (h: { topicNode: string; payload: Buffer }): Promise<void> =>
      new Promise((resolve, reject) => {
        ingest.submit(h.topicNode, h.payload, (err) => (err ? reject(err) : resolve()), h)
      })
    const stored = Array.from({ length: 50 }, (_, i) =>
      enrolled.envelope('job.started', {
        runId: `r${i}`,
        job: 'daily',
        jobKind: 'zfs',
        startedAt: '2026-11-22T01:00:00.000Z',
        trigger: 'schedule',
      }),
    )
    await Promise.all(stored.map((e) => send({ topicNode: 'fz1', payload: Buffer.from(JSON.stringify(e)) })))
    const storedBefore = store.events.count('fz1')
    assert.equal(storedBefore, stored.length)
    const base = {
      rejected: counters.get('ingest_rejected_total'),
      dropped: counters.get('ingest_dropped_total'),
      duplicate: counters.get('ingest_duplicate_total'),
    }

    const arb = hostile({ enrolled, stored })
    const byCategory = new Map<string, number>()
    let expectDuplicates = 0
    let expectRejected = 0
    const started = Date.now()
    let heapAtTenth = 0
    let peakHeap = 0
    for (let done = 0; done < TOTAL; done += CHUNK) {
      const batch: Hostile[] = fc.sample(arb, { numRuns: Math.min(CHUNK, TOTAL - done), seed: 4242 + done })
      for (let i = 0; i < batch.length; i += WINDOW) {
        await Promise.all(
          batch.slice(i, i + WINDOW).map((h) => {
            byCategory.set(h.category.replace(/: .*/, ''), (byCategory.get(h.category.replace(/: .*/, '')) ?? 0) + 1)
            expectDuplicates += h.expect === 'duplicate' ? 1 : 0
            expectRejected += h.expect === 'reject' ? 1 : 0
            return send(h)
          }),
        )
      }
      if (done === Math.floor(TOTAL / 10 / CHUNK) * CHUNK) {
        heapAtTenth = heapMiB()
      }
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed / 2 ** 20)
    }
    await ingest.close()
    const seconds = (Date.now() - started) / 1000
    const heapEnd = heapMiB()

    const rejected = counters.get('ingest_rejected_total') - base.rejected
    const dropped = counters.get('ingest_dropped_total') - base.dropped
    const duplicate = counters.get('ingest_duplicate_total') - base.duplicate
    const summary = {
      total: TOTAL,
      seconds,
      perSecond: Math.round(TOTAL / seconds),
      rejected,
      dropped,
      duplicate,
      acks,
      heapAtTenthMiB: Math.round(heapAtTenth),
      heapEndMiB: Math.round(heapEnd),
      peakHeapMiB: Math.round(peakHeap),
      byCategory: Object.fromEntries(byCategory),
      rejectedByCode: counters.snapshot().ingest_rejected_total,
      droppedByCode: counters.snapshot().ingest_dropped_total,
    }
    console.log(`# fuzz ${JSON.stringify(summary)}`)

    assert.equal(store.events.count('fz1'), storedBefore, 'no hostile message was stored')
    assert.equal(store.events.count('ghost') + store.events.count('intruder'), 0)
    assert.equal(rejected + dropped + duplicate, TOTAL, 'every message is counted exactly once')
    assert.equal(duplicate, expectDuplicates, 'replays are recognised as duplicates')
    assert.ok(
      rejected >= expectRejected,
      `at least the ${expectRejected} attributable forgeries are rejected in an ack (got ${rejected})`,
    )
    assert.ok(heapEnd - heapAtTenth < 64, `heap grew ${Math.round(heapEnd - heapAtTenth)} MiB between 10% and the end`)
    assert.ok(byCategory.size >= 12, `every category was generated: ${[...byCategory.keys()].join(', ')}`)
  })
})
