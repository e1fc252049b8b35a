import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { buildApp } from '../../src/app.ts'
import { appDepsOnDb, injectAs } from '../support/app-deps.ts'
import { copy, FakeAgent, ingestHarness, payload } from '../support/harness.ts'

/**
 * The core read API through `inject()` (no ports): nodes, runs (filters, paging, 400s naming the field), copies,
 * healthz.
 */
async function fixture(t: TestContext, health = { db: true, broker: true }) {
  const h = ingestHarness(t)
  const pve = new FakeAgent('pve1')
  const nas = new FakeAgent('nas1')
  await Promise.all([h.send('pve1', payload(pve.enroll())), h.send('nas1', payload(nas.enroll()))])
  const startedAt = (i: number): string => new Date(Date.UTC(2026, 10, 20, i)).toISOString()
  for (let i = 0; i < 5; i++) {
    await h.send(
      'pve1',
      payload(
        pve.envelope('job.finished', {
          runId: `p${i}`,
          job: i % 2 ? 'etc' : 'vms',
          jobKind: 'archive',
          startedAt: startedAt(i),
          finishedAt: startedAt(i + 1),
          status: i === 3 ? 'failed' : 'success',
          copies: i === 4 ? [copy('keep'), copy('gone')] : [],
          deleted: [],
          warnings: [],
          ...(i === 3 ? { error: { code: 'BK_ERR_JOB_FAILED', message: 'tar exited 2' } } : {}),
        }),
      ),
    )
  }
  await h.send(
    'pve1',
    payload(
      pve.envelope('job.finished', {
        runId: 'p5',
        job: 'etc',
        jobKind: 'archive',
        startedAt: startedAt(6),
        finishedAt: startedAt(7),
        status: 'success',
        copies: [],
        deleted: [
          {
            copyId: 'gone',
            asset: { kind: 'file-set', id: 'fileset:etc-archive' },
            location: { kind: 'dir', target: '/srv/backup' },
            name: 'gone.tar.gz',
            deletedAt: startedAt(7),
            rule: 'keep-last(1)',
          },
        ],
        warnings: [],
      }),
    ),
  )
  await h.send('nas1', payload(nas.started('n0')))
  const deps = appDepsOnDb(h.db, { health: () => health })
  const app = buildApp(deps)
  t.after(() => app.close())
  return { app, api: injectAs(app, deps.bearer('viewer')) }
}

test('GET /api/v1/nodes and /api/v1/nodes/:node', async (t) => {
  const { api } = await fixture(t)
  const list = await api('/api/v1/nodes')
  assert.equal(list.statusCode, 200)
  assert.deepEqual(
    list.json().nodes.map((n: { node: string; hostname: string }) => [n.node, n.hostname]),
    [
      ['nas1', 'nas1.lan'],
      ['pve1', 'pve1.lan'],
    ],
  )
  const one = await api('/api/v1/nodes/pve1')
  assert.equal(one.statusCode, 200)
  assert.equal(typeof one.json().publicKey, 'string')
  const missing = await api('/api/v1/nodes/nope')
  assert.equal(missing.statusCode, 404)
  assert.equal(missing.json().error.code, 'BK_ERR_API_NOT_FOUND')
  const invalid = await api('/api/v1/nodes/BAD..ID!')
  assert.equal(invalid.statusCode, 400)
  assert.equal(invalid.json().error.field, 'params.node')
})

const runCases: { query: string; runs: string[]; next?: number | null }[] = [
  { query: '', runs: ['n0', 'p5', 'p4', 'p3', 'p2', 'p1', 'p0'] },
  { query: 'node=nas1', runs: ['n0'] },
  { query: 'node=pve1&job=etc', runs: ['p5', 'p3', 'p1'] },
  { query: 'status=failed', runs: ['p3'] },
  { query: 'status=running', runs: ['n0'] },
  { query: 'node=pve1&since=2026-11-20T02:00:00Z&until=2026-11-20T04:00:00Z', runs: ['p3', 'p2'] },
  { query: 'node=pve1&limit=2', runs: ['p5', 'p4'], next: 2 },
  { query: 'node=pve1&limit=2&offset=4', runs: ['p1', 'p0'], next: null },
]
for (const c of runCases) {
  test(`GET /api/v1/runs?${c.query}`, async (t) => {
    const { api } = await fixture(t)
    const res = await api(`/api/v1/runs?${c.query}`)
    assert.equal(res.statusCode, 200, res.body)
    const body = res.json()
    assert.deepEqual(
      body.runs.map((r: { runId: string }) => r.runId),
      c.runs,
    )
    if (c.next !== undefined) {
      assert.equal(body.next, c.next)
    }
  })
}

test('GET /api/v1/runs returns the run fields', async (t) => {
  const { api } = await fixture(t)
  const run = (await api('/api/v1/runs?status=failed')).json().runs[0]
  assert.equal(run.node, 'pve1')
  assert.equal(run.durationMs, 3_600_000)
  assert.deepEqual(run.error, { code: 'BK_ERR_JOB_FAILED', message: 'tar exited 2' })
})

const badQueries: [string, string][] = [
  ['limit=abc', 'querystring.limit'],
  ['limit=0', 'querystring.limit'],
  ['offset=-1', 'querystring.offset'],
  ['since=yesterday', 'querystring.since'],
  ['status=exploded', 'querystring.status'],
  ['node=Not%20A%20Node', 'querystring.node'],
  ['colour=blue', 'querystring.colour'],
]
for (const [q, field] of badQueries) {
  test(`GET /api/v1/runs?${q} is a 400 naming ${field}`, async (t) => {
    const { api } = await fixture(t)
    const res = await api(`/api/v1/runs?${q}`)
    assert.equal(res.statusCode, 400, res.body)
    assert.equal(res.json().error.code, 'BK_ERR_API_VALIDATION')
    assert.equal(res.json().error.field, field)
  })
}

test('GET /api/v1/copies: live by default, deleted on request, filters', async (t) => {
  const { api } = await fixture(t)
  const live = (await api('/api/v1/copies?node=pve1')).json()
  assert.deepEqual(
    live.copies.map((c: { copyId: string }) => c.copyId),
    ['keep'],
  )
  const all = (await api('/api/v1/copies?node=pve1&includeDeleted=true')).json()
  const gone = all.copies.find((c: { copyId: string }) => c.copyId === 'gone')
  assert.deepEqual(gone.deleted, { at: '2026-11-20T07:00:00.000Z', rule: 'keep-last(1)' })
  assert.equal(gone.media, 'hdd')
  assert.equal((await api('/api/v1/copies?assetKind=vm')).json().copies.length, 0)
  const bad = await api('/api/v1/copies?assetKind=spaceship')
  assert.equal(bad.statusCode, 400)
  assert.equal(bad.json().error.field, 'querystring.assetKind')
})

test('GET /healthz is 200 when db and broker are up, 503 otherwise', async (t) => {
  const ok = await (await fixture(t)).app.inject('/healthz')
  assert.equal(ok.statusCode, 200)
  assert.deepEqual(ok.json(), { ok: true, db: true, broker: true })
  const down = await (await fixture(t, { db: true, broker: false })).app.inject('/healthz')
  assert.equal(down.statusCode, 503)
  assert.deepEqual(down.json(), { ok: false, db: true, broker: false })
})

test('unknown routes are a coded 404', async (t) => {
  const res = await (await fixture(t)).api('/api/v1/nothing')
  assert.equal(res.statusCode, 404)
  assert.equal(res.json().error.code, 'BK_ERR_API_NOT_FOUND')
})
