import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { buildApp } from '../../src/app.ts'
import { harness, T0, tankSource } from '../ledger/harness.ts'
import { actorOf, appDepsOf, injectAs } from '../support/app-deps.ts'

const ASSET_URL = '/api/v1/asset?node=pve1&kind=zfs-dataset&id=tank/scratch'
const EXEMPT_URL = '/api/v1/asset/exemption?node=pve1&kind=zfs-dataset&id=tank/scratch'
const ALERT = 'non-compliant/pve1/zfs-dataset/tank/scratch'

/** tank/scratch has one snapshot on its own pool: a version only, so it breaks 3-2-1-1-0 and pages. */
function setup() {
  const h = harness()
  const deps = appDepsOf(h)
  const app = buildApp(deps)
  const operator = deps.bearer('operator')
  h.start()
  const snapshot = h.copy('s1', 'tank/scratch', T0 + 1, {
    location: { kind: 'zfs-pool', target: 'tank' },
    storage: tankSource,
  })
  h.run('snap', T0, 60_000, [snapshot], 'success', undefined, [
    { asset: { kind: 'zfs-dataset', id: 'tank/scratch' }, storage: tankSource },
  ])
  h.ledger.runNow()
  return {
    h,
    app,
    api: injectAs(app, operator),
    viewer: injectAs(app, deps.bearer('viewer')),
    actor: actorOf(operator),
  }
}

describe('an asset marked intentionally unprotected shows it in its verdict (issue 11 item 5)', () => {
  it('verdict exempt (who, when, why); its non-compliant alert resolves naming the mark; undo re-judges', async (t) => {
    const { h, app, api, viewer, actor } = setup()
    t.after(() => {
      h.stop()
      void app.close()
    })
    const before = (await viewer(ASSET_URL)).json().asset
    assert.equal(before.verdict, 'non-compliant')
    assert.equal(before.exemption, null)
    assert.equal(h.alert(ALERT)!.state, 'firing')

    const put = await api({ method: 'PUT', url: EXEMPT_URL, payload: { reason: 'scratch space, rebuilt nightly' } })
    assert.equal(put.statusCode, 200, put.body)
    const at = new Date(h.clock.now()).toISOString()
    const asset = (await viewer(ASSET_URL)).json().asset
    assert.equal(asset.verdict, 'exempt')
    assert.deepEqual(asset.exemption, { reason: 'scratch space, rebuilt nightly', actor, at })
    assert.deepEqual(asset.reasons, [], 'no rule is reported as broken for an asset that needs no backup')
    assert.equal(asset.places.length, 1, 'its copies are still listed and judged')
    const alert = h.alert(ALERT)!
    assert.equal(alert.state, 'resolved')
    assert.equal(
      alert.summary,
      `zfs-dataset tank/scratch on pve1 is exempt: intentionally unprotected: scratch space, rebuilt nightly ` +
        `(marked by ${actor} at ${at})`,
    )
    const listed = (await viewer('/api/v1/assets?verdict=exempt')).json()
    assert.deepEqual(
      listed.assets.map((a: { id: string; exemption: { reason: string } }) => [a.id, a.exemption.reason]),
      [['tank/scratch', 'scratch space, rebuilt nightly']],
    )
    const summary = (await viewer('/api/v1/compliance/summary')).json()
    assert.deepEqual([summary.exempt, summary.nonCompliant], [1, 0])

    const removed = await api({ method: 'DELETE', url: EXEMPT_URL })
    assert.equal(removed.statusCode, 200, removed.body)
    const after = (await viewer(ASSET_URL)).json().asset
    assert.deepEqual([after.verdict, after.exemption], ['non-compliant', null])
    assert.equal(h.alert(ALERT)!.state, 'firing')
  })
})
