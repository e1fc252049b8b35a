import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { buildApp } from '../../src/app.ts'
import { createCounters } from '../../src/metrics/counters.ts'
import { backupPoolStorage, H, harness, probedStorage, T0, tankSource } from '../ledger/harness.ts'
import { actorOf, appDepsOf, injectAs } from '../support/app-deps.ts'

function setup() {
  const h = harness()
  const counters = createCounters()
  counters.inc('ingest_stored_total', 'job.finished', 3)
  const deps = appDepsOf(h, { counters })
  const { tokens } = deps
  const app = buildApp(deps)
  const admin = deps.bearer('admin')
  const api = injectAs(app, admin)
  h.start()
  // Issue 11: tank/data's NAS copy is offsite and immutable by probed storage (site "office", a pull replica the
  // node cannot log in to), no longer by the typed `offsite: true, immutable: true` alone.
  const nas = probedStorage({
    host: 'nas2',
    site: 'office',
    devices: [{ id: 'serial:NAS-A', transport: 'sata' }],
    media: 'nas',
    immutability: { kind: 'pull-replica', probedAt: new Date(T0).toISOString() },
  })
  h.run(
    'snap',
    T0,
    60_000,
    [
      h.copy('c1', 'tank/data', T0 + 1, { storage: backupPoolStorage }),
      h.copy('c2', 'tank/data', T0 + 1, {
        location: { kind: 'nas', target: 'nas2:/b' },
        media: 'nas',
        offsite: true,
        immutable: true,
        storage: nas,
      }),
    ],
    'success',
    undefined,
    [{ asset: { kind: 'zfs-dataset', id: 'tank/data' }, storage: tankSource }],
  )
  h.run(
    'snap',
    T0,
    60_000,
    // A copy on a second NVMe disk: counted, but the same media type as production.
    [h.copy('c3', 'tank/vm', T0 + 1, { storage: { ...backupPoolStorage, media: 'nvme' } })],
    'success',
    undefined,
    [{ asset: { kind: 'zfs-dataset', id: 'tank/vm' }, storage: tankSource }],
  )
  h.ledger.runNow()
  return { h, app, api, actor: actorOf(admin), tokens }
}

describe('compliance API', () => {
  it('needs a token from the start: 401 without, 403 for a too-weak role', async (t) => {
    const { h, app, tokens } = setup()
    t.after(() => {
      h.stop()
      void app.close()
    })
    const viewer = tokens.create('grafana', 'viewer', T0).token
    const operator = tokens.create('oncall', 'operator', T0).token
    const noAuth = await app.inject('/api/v1/assets')
    assert.equal(noAuth.statusCode, 401)
    assert.equal(noAuth.json().error.code, 'BK_ERR_API_UNAUTHORIZED')
    assert.equal(
      (await app.inject({ url: '/api/v1/nodes', headers: { authorization: 'Bearer nope' } })).statusCode,
      401,
      'core routes are guarded too',
    )
    assert.equal(
      (await app.inject({ url: '/api/v1/assets', headers: { authorization: `Bearer ${viewer}` } })).statusCode,
      200,
    )
    const forbidden = await app.inject({
      method: 'PATCH',
      url: '/api/v1/asset?node=pve1&kind=zfs-dataset&id=tank/vm',
      headers: { authorization: `Bearer ${viewer}` },
      payload: { tier: 'low' },
    })
    assert.equal(forbidden.statusCode, 403)
    assert.equal(forbidden.json().error.code, 'BK_ERR_API_FORBIDDEN')
    const ok = await app.inject({
      method: 'PATCH',
      url: '/api/v1/asset?node=pve1&kind=zfs-dataset&id=tank/vm',
      headers: { authorization: `Bearer ${operator}` },
      payload: { tier: 'low' },
    })
    assert.equal(ok.statusCode, 200, ok.body)
    assert.equal(ok.json().asset.tier, 'low')
    assert.equal(
      ok.json().asset.verdict,
      'compliant',
      'low tier: production + one copy is enough; re-evaluated at once',
    )
    const tokensAsOperator = await app.inject({
      url: '/api/v1/tokens',
      headers: { authorization: `Bearer ${operator}` },
    })
    assert.equal(tokensAsOperator.statusCode, 403)
    assert.equal((await app.inject('/healthz')).statusCode, 200, 'liveness stays open')
    const audit = await app.inject({
      url: '/api/v1/audit?action=asset.policy',
      headers: { authorization: `Bearer ${operator}` },
    })
    assert.equal(audit.statusCode, 200)
    assert.equal(audit.json().entries[0].target, 'pve1/zfs-dataset/tank/vm')
  })

  it('schema errors are 400 naming the field', async (t) => {
    const { h, app, api } = setup()
    t.after(() => {
      h.stop()
      void app.close()
    })
    const cases: Array<[string, string]> = [
      ['/api/v1/assets?verdict=great', 'querystring.verdict'],
      ['/api/v1/assets?limit=0', 'querystring.limit'],
      ['/api/v1/asset?node=pve1&kind=zfs-dataset', 'querystring.id'],
    ]
    for (const [url, field] of cases) {
      const r = await api(url)
      assert.equal(r.statusCode, 400, url)
      assert.equal(r.json().error.code, 'BK_ERR_API_VALIDATION')
      assert.equal(r.json().error.field, field, url)
    }
    const bad = await api({
      method: 'PUT',
      url: '/api/v1/expectations/1',
      payload: { schedule: { kind: 'cron', cron: 'nope', timezone: 'UTC' }, graceS: 3600 },
    })
    assert.equal(bad.statusCode, 400)
    assert.equal(bad.json().error.code, 'BK_ERR_SCHEDULE_INVALID')
  })

  it('asset verdict with reasons, fleet summary, expectations, alerts ack and the weekly report', async (t) => {
    const { h, app, api, actor } = setup()
    t.after(() => {
      h.stop()
      void app.close()
    })
    const one = await api('/api/v1/asset?node=pve1&kind=zfs-dataset&id=tank/vm')
    assert.equal(one.statusCode, 200)
    assert.equal(one.json().asset.verdict, 'non-compliant')
    assert.deepEqual(
      one
        .json()
        .asset.reasons.map((r: { code: string }) => r.code)
        .sort(),
      ['no-offline-or-immutable', 'no-offsite', 'too-few-copies', 'too-few-media'],
    )
    assert.equal(one.json().copies.length, 1)
    assert.equal(
      (await api('/api/v1/asset?node=pve1&kind=zfs-dataset&id=nope')).json().error.code,
      'BK_ERR_API_NOT_FOUND',
    )

    const sum = (await api('/api/v1/compliance/summary')).json()
    assert.deepEqual([sum.assets, sum.compliant, sum.nonCompliant, sum.ratio], [2, 1, 1, 0.5])
    assert.equal(sum.byTier.standard.nonCompliant, 1)

    const ex = (await api('/api/v1/expectations?node=pve1')).json()
    assert.equal(ex.total, 2)
    const id = ex.expectations[0].id
    const put = await api({
      method: 'PUT',
      url: `/api/v1/expectations/${id}`,
      payload: { schedule: { kind: 'cron', cron: '0 3 * * *', timezone: 'Europe/Amsterdam' }, graceS: 1800 },
    })
    assert.equal(put.statusCode, 200, put.body)
    assert.equal(put.json().alertAfter, '2026-11-20T02:30:00.000Z', '03:00 CET + 30 min')
    // Let the other expectation miss its deadline, then pause it: its alert resolves (a paused check never alerts).
    const other = ex.expectations[1]
    assert.equal(other.assetId, 'tank/vm')
    h.clock.set(T0 + 26 * H)
    const missedKey = `missed-backup/pve1/snap/zfs-dataset/${other.assetId}`
    assert.equal(h.alert(missedKey)?.state, 'firing')
    assert.equal((await api({ method: 'POST', url: `/api/v1/expectations/${other.id}/pause` })).json().status, 'paused')
    assert.equal(h.alert(missedKey)?.state, 'resolved')
    assert.equal((await api({ method: 'POST', url: `/api/v1/expectations/${id}/pause` })).json().status, 'paused')

    const alerts = (await api('/api/v1/alerts?state=firing&kind=non-compliant')).json()
    assert.equal(alerts.total, 1)
    const key = alerts.alerts[0].key
    h.published.length = 0
    const ack = await api({ method: 'POST', url: '/api/v1/alerts/ack', payload: { key } })
    assert.equal(ack.statusCode, 200)
    assert.equal(ack.json().ackedBy, actor)
    assert.equal(h.published[0]!.payload.acked, true, 'retained state re-published after ack')
    const flips = (await api(`/api/v1/alerts/flips?key=${encodeURIComponent(key)}`)).json()
    assert.equal(flips.flips[0].to, 'firing')
    const sil = await api({
      method: 'POST',
      url: '/api/v1/alerts/silence',
      payload: { key, until: new Date(T0 - H).toISOString() },
    })
    assert.equal(sil.statusCode, 400, 'a silence in the past is refused')

    const csv = await api('/api/v1/reports/weekly?format=csv')
    assert.equal(csv.statusCode, 200)
    assert.match(csv.headers['content-type'] as string, /text\/csv/)
    const lines = csv.body.trim().split('\r\n')
    assert.equal(
      lines[0],
      'node,kind,id,tier,lifecycle,verdict,reasons,copies,mediaTypes,offsite,offlineOrImmutable,' +
        'verificationErrors,lastSuccessAt,alertsRaised',
    )
    assert.equal(lines.length, 3)
    // tank/vm raised two asset alerts this week: non-compliant, and the missed backup before it was paused.
    assert.match(
      lines.find((l) => l.includes('tank/vm'))!,
      /non-compliant,.*,2,1,0,0,0,.*,2$/,
    )
    const json = (await api('/api/v1/reports/weekly')).json()
    assert.equal(json.assets.length, 2)
  })

  it('serves OpenAPI with every route at /docs/json and the UI at /docs', async (t) => {
    const { h, app, api } = setup()
    t.after(() => {
      h.stop()
      void app.close()
    })
    const spec = (await api('/docs/json')).json()
    for (const p of [
      '/api/v1/assets',
      '/api/v1/asset',
      '/api/v1/compliance/summary',
      '/api/v1/expectations',
      '/api/v1/alerts',
      '/api/v1/reports/weekly',
      '/api/v1/runs',
    ]) {
      assert.ok(spec.paths[p], `OpenAPI lists ${p}`)
    }
    assert.equal((await api('/docs')).statusCode, 200)
  })

  it('exposes Prometheus metrics with low-cardinality labels and the core counters', async (t) => {
    const { h, app, api } = setup()
    t.after(() => {
      h.stop()
      void app.close()
    })
    const m = await api('/metrics')
    assert.equal(m.statusCode, 200)
    assert.match(
      m.body,
      new RegExp(
        'backstop_asset_last_success_timestamp_seconds\\{node="pve1",kind="zfs-dataset",asset="tank\\/data"\\} ' +
          '1795132800\\.001',
      ),
    )
    assert.match(m.body, /backstop_assets\{verdict="non-compliant",tier="standard"\} 1/)
    assert.match(m.body, /backstop_alerts_firing\{kind="non-compliant",severity="warning"\} 1/)
    assert.match(m.body, /backstop_copy_locations\{class="offsite"\} 1/)
    assert.match(m.body, /backstop_ingest_stored_total\{label="job.finished"\} 3/)
    assert.doesNotMatch(m.body, /copy_id|c1|c2/)
  })
})
