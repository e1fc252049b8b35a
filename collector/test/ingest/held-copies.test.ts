import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { AssetRef, Copy } from '@backstop/shared'
import { copy, FakeAgent, ingestHarness, payload, type Harness } from '../support/harness.ts'

const dataset: AssetRef = { kind: 'zfs-dataset', id: 'tank/data' }
const local = (id: string): Copy =>
  copy(id, { asset: dataset, location: { kind: 'zfs-pool', target: 'tank' }, name: `tank/data@${id}` })
/** What a NAS's zfs-pull job reports: the replica on its own pool, of pve1's dataset. */
const pulled = (id: string, owner = 'pve1'): Copy =>
  copy(id, {
    asset: { ...dataset, node: owner, name: `pve1.lan:tank/data` },
    location: { kind: 'zfs-pool', target: 'backup' },
    name: `backup/pve1/tank/data@${id}`,
  })

async function fleet(h: Harness): Promise<{ pve1: FakeAgent; nas1: FakeAgent }> {
  const pve1 = new FakeAgent('pve1')
  const nas1 = new FakeAgent('nas1')
  await h.send('pve1', payload(pve1.enroll()))
  await h.send('nas1', payload(nas1.enroll()))
  return { pve1, nas1 }
}

const rows = (h: Harness, node: string) =>
  h.store.copies
    .query({ node, includeDeleted: true, limit: 100, offset: 0 })
    .map((c) => ({ copyId: c.copyId, heldBy: c.heldBy, asset: c.asset.id, deleted: c.deleted !== null }))

test("a pulled replica is filed under the source node's asset, held by the node that pulled it", async (t) => {
  const h = ingestHarness(t)
  const { pve1, nas1 } = await fleet(h)
  await h.send('pve1', payload(pve1.finished('r1', [local('snap1')])))
  await h.send('nas1', payload(nas1.finished('p1', [pulled('snap1')])))
  assert.deepEqual(rows(h, 'pve1'), [
    { copyId: 'nas1:snap1', heldBy: 'nas1', asset: 'tank/data', deleted: false },
    { copyId: 'snap1', heldBy: null, asset: 'tank/data', deleted: false },
  ])
  assert.deepEqual(rows(h, 'nas1'), [], 'nas1 has no asset of its own from this')
  assert.equal(h.acks.at(-1)?.body.rejected.length, 0)
})

test("the holder cannot replace the owner's own copy, and its deletions touch only what it holds", async (t) => {
  const h = ingestHarness(t)
  const { pve1, nas1 } = await fleet(h)
  await h.send('pve1', payload(pve1.finished('r1', [local('snap1')])))
  // Same copyId as pve1's own copy: it lands beside it, namespaced, never over it.
  await h.send('nas1', payload(nas1.finished('p1', [pulled('snap1')])))
  const gone = {
    copyId: 'snap1',
    asset: { ...dataset, node: 'pve1' },
    location: { kind: 'zfs-pool' as const, target: 'backup' },
    name: 'backup/pve1/tank/data@snap1',
    deletedAt: '2026-11-23T01:00:00.000Z',
    rule: 'keep-last(1)',
  }
  await h.send('nas1', payload(nas1.finished('p2', [], { deleted: [gone] })))
  assert.deepEqual(rows(h, 'pve1'), [
    { copyId: 'nas1:snap1', heldBy: 'nas1', asset: 'tank/data', deleted: true },
    { copyId: 'snap1', heldBy: null, asset: 'tank/data', deleted: false },
  ])
})

test('a copy naming a node that is not enrolled is a transient, explained rejection; nothing is stored', async (t) => {
  const h = ingestHarness(t)
  const { nas1 } = await fleet(h)
  const env = nas1.finished('p1', [pulled('snap1', 'pve9')])
  await h.send('nas1', payload(env))
  const r = h.acks.at(-1)?.body.rejected
  assert.deepEqual(
    r?.map((x) => [x.msgId, x.code, x.permanent]),
    [[env.msgId, 'BK_ERR_ASSET_OWNER_UNKNOWN', false]],
  )
  assert.match(r![0]!.reason, /pve9.*no such node is enrolled.*source\.node/)
  assert.equal(h.store.runs.get('nas1', 'p1'), undefined, 'the whole event rolled back; the agent retries it')
  assert.deepEqual(rows(h, 'pve9'), [])
})

test("a node cannot report where another node's live data is", async (t) => {
  const h = ingestHarness(t)
  const { nas1 } = await fleet(h)
  const storage = { host: 'nas1', site: 'home', devices: [], media: 'hdd' as const }
  const env = nas1.finished('p1', [], { sources: [{ asset: { ...dataset, node: 'pve1' }, storage }] })
  await h.send('nas1', payload(env))
  const r = h.acks.at(-1)?.body.rejected
  assert.equal(r?.[0]?.code, 'BK_ERR_WIRE_SCHEMA')
  assert.equal(r?.[0]?.permanent, true)
  assert.match(r![0]!.reason, /sources: zfs-dataset tank\/data names node pve1/)
})
