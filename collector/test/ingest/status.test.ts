import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseStatus } from '../../src/ingest/status.ts'
import { openDb } from '../../src/store/db.ts'
import { createNodesRepo } from '../../src/store/nodes-repo.ts'
import { createStatusRecorder } from '../../src/ingest/status.ts'

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v))
const ts = '2026-11-20T00:00:00.000Z'

describe('node status payloads: why a node is offline', () => {
  it('a graceful stop names its reason; a Last Will (with or without one) is lost', () => {
    assert.equal(parseStatus(json({ state: 'offline', ts, reason: 'shutdown' }))?.reason, 'shutdown')
    assert.equal(parseStatus(json({ state: 'offline', ts, reason: 'restart' }))?.reason, 'restart')
    assert.equal(parseStatus(json({ state: 'offline', ts, reason: 'lost' }))?.reason, 'lost')
    assert.equal(parseStatus(json({ state: 'offline', ts }))?.reason, 'lost', "an older agent's Will")
    assert.equal(parseStatus(json({ state: 'online', ts, agentVersion: '1.2.3' }))?.reason, undefined)
  })

  it('an unknown reason is not a status message', () => {
    assert.equal(parseStatus(json({ state: 'offline', ts, reason: 'bored' })), undefined)
  })

  it('the node row keeps the reason while offline and drops it when the node is back', () => {
    const { db } = openDb({ file: ':memory:' })
    const nodes = createNodesRepo(db)
    nodes.insert({ node: 'pve1', publicKey: 'k', fingerprint: 'f', enrolledAt: 0, hostname: 'pve1', agentVersion: '1' })
    const record = createStatusRecorder(db, nodes)
    const t = Date.parse(ts)
    record('pve1', 'offline', t, undefined, 'shutdown')
    assert.deepEqual([nodes.get('pve1')?.status, nodes.get('pve1')?.statusReason], ['offline', 'shutdown'])
    record('pve1', 'online', t + 1000, '1')
    assert.deepEqual([nodes.get('pve1')?.status, nodes.get('pve1')?.statusReason], ['online', null])
    record('pve1', 'offline', t + 2000)
    assert.equal(nodes.get('pve1')?.statusReason, 'lost', 'no reason recorded = the Last Will')
    nodes.setHeartbeat('pve1', {}, t + 3000, 'pve1', '1')
    assert.deepEqual([nodes.get('pve1')?.status, nodes.get('pve1')?.statusReason], ['online', null])
    db.close()
  })
})
