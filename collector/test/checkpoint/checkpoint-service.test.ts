import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeEnvelope, privateKeyObject, verifyEnvelopeSignature, type Envelope } from '@backstop/shared'
import { createCheckpointService } from '../../src/checkpoint/checkpoint-service.ts'
import { createCheckpointsRepo } from '../../src/store/checkpoints-repo.ts'
import { captureLog, FakeAgent, ingestHarness, nodeKeys, payload } from '../support/harness.ts'

async function fleetOfTwo(t: Parameters<typeof ingestHarness>[0]) {
  const h = ingestHarness(t)
  const a = new FakeAgent('cp-a')
  const b = new FakeAgent('cp-b')
  for (const agent of [a, b]) {
    await h.send(agent.node, payload(agent.enroll()))
  }
  // cp-a commits seq 2, 3, 4 (the enroll envelope is seq 0); cp-b nothing after enrolling.
  for (let i = 0; i < 3; i++) {
    await h.send(a.node, payload(a.started(`run-${i}`)))
  }
  const collector = nodeKeys()
  const published: { node: string; env: Envelope<'checkpoint'> }[] = []
  const svc = createCheckpointService({
    repo: createCheckpointsRepo(h.db),
    signingKey: privateKeyObject(collector.secretKey),
    publish: (node, p) => published.push({ node, env: decodeEnvelope(p) as Envelope<'checkpoint'> }),
    now: () => Date.parse('2026-12-05T09:00:00.000Z'),
    log: captureLog('warn').log,
  })
  return { h, svc, published, collector }
}

const bodies = (p: { node: string; env: Envelope<'checkpoint'> }[]) =>
  Object.fromEntries(p.map((x) => [x.node, x.env.body]))

describe('collector checkpoints', () => {
  it('on start: every enrolled node, covered 0 before any backup, with its high-water mark; signed', async (t) => {
    const { svc, published, collector } = await fleetOfTwo(t)
    assert.equal(svc.publishAll(), 2)
    assert.deepEqual(bodies(published), {
      'cp-a': { coveredSeq: 0, collectorHighWater: 4 },
      'cp-b': { coveredSeq: 0, collectorHighWater: 0 },
    })
    for (const p of published) {
      assert.equal(p.env.kind, 'checkpoint')
      assert.equal(p.env.node, p.node)
      assert.equal(p.env.seq, 0)
      assert.ok(verifyEnvelopeSignature(p.env, collector.publicKey), 'signed by the collector key')
    }
  })

  it('after a verified backup: its coverage per node, recorded for the next start', async (t) => {
    const { h, svc, published } = await fleetOfTwo(t)
    svc.onVerifiedBackup({ path: '/b/1.db', takenAt: '2026-12-05T08:00:00.000Z', highWater: new Map([['cp-a', 3]]) })
    const at = '2026-12-05T08:00:00.000Z'
    assert.deepEqual(bodies(published), {
      'cp-a': { coveredSeq: 3, collectorHighWater: 4, backupTakenAt: at },
      'cp-b': { coveredSeq: 0, collectorHighWater: 0, backupTakenAt: at },
    })
    published.length = 0
    assert.equal(svc.publishTo('cp-a'), true)
    assert.deepEqual(bodies(published), { 'cp-a': { coveredSeq: 3, collectorHighWater: 4, backupTakenAt: at } })
    assert.equal(svc.publishTo('nobody'), false, 'a node that is not enrolled gets nothing')
    const row = h.db
      .prepare("SELECT covered_seq AS c, backup_path AS p FROM node_checkpoints WHERE node = 'cp-a'")
      .get()
    assert.deepEqual(row, { c: 3, p: '/b/1.db' })
  })

  it('a recorded checkpoint above what the database holds (restored to an older backup) is capped', async (t) => {
    const { svc, published } = await fleetOfTwo(t)
    svc.onVerifiedBackup({ path: '/b/2.db', takenAt: '2026-12-05T08:30:00.000Z', highWater: new Map([['cp-a', 9]]) })
    published.length = 0
    svc.publishAll()
    assert.equal(bodies(published)['cp-a']?.coveredSeq, 4)
  })
})
