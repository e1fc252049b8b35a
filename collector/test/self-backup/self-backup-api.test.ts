import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { buildApp } from '../../src/app.ts'
import { appDepsOf } from '../support/app-deps.ts'
import { H, selfBackupHarness } from './support.ts'

describe('the self-backup in the API', () => {
  const h = selfBackupHarness({
    schedule: '0 * * * *',
    retention: { keep: { last: 1, daily: 0, weekly: 0, monthly: 0 } },
  })
  const deps = appDepsOf({ db: h.db, clock: h.clock, part: h.part, ledger: h.part.ledger, auditLog: h.audit })
  const app = buildApp(deps)
  after(async () => {
    await app.close()
    await h.close()
  })
  const get = async (url: string, role: 'viewer' | 'admin' = 'viewer'): Promise<Record<string, unknown>> => {
    const r = await app.inject({ method: 'GET', url, headers: deps.bearer(role) })
    assert.equal(r.statusCode, 200, r.body)
    return r.json()
  }

  it('GET /api/v1/self-backup lists each backup with its check, newest first; removed ones on request', async () => {
    h.event('pve1', 4)
    h.service.start()
    await h.service.runNow()
    h.clock.advance(H)
    await h.service.runNow()
    const live = (await get('/api/v1/self-backup')).items as Record<string, unknown>[]
    assert.equal(live.length, 1, 'keep last 1: the older file was removed')
    assert.deepEqual(
      { ...live[0], auditHead: null, bytes: typeof live[0]?.bytes },
      {
        target: 'local',
        path: `${h.config.targets[0]!.dir}/backstop-collector-20261120T010000Z.db`,
        takenAt: '2026-11-20T01:00:00.000Z',
        checkedAt: '2026-11-20T01:00:00.000Z',
        bytes: 'number',
        status: 'verified',
        integrity: 'ok',
        auditHead: null,
        highWater: { pve1: 4 },
        error: null,
        deleted: null,
      },
    )
    const all = (await get('/api/v1/self-backup?includeDeleted=true&target=local')).items as Record<string, unknown>[]
    assert.equal(all.length, 2)
    assert.match(String((all[1]?.deleted as { rule: string }).rule), /kept by no rule/)
    const bad = await app.inject({ method: 'GET', url: '/api/v1/self-backup?limit=0', headers: deps.bearer('viewer') })
    assert.equal(bad.statusCode, 400)
    const anon = await app.inject({ method: 'GET', url: '/api/v1/self-backup' })
    assert.equal(anon.statusCode, 401)
  })

  it('the collector appears in the normal assets API with its verdict and its live copies', async () => {
    h.part.ledger.runNow()
    const body = await get('/api/v1/assets?node=collector-test')
    const assets = body.assets as Record<string, unknown>[]
    assert.equal(assets.length, 1)
    assert.equal(assets[0]?.kind, 'file-set')
    assert.equal(assets[0]?.id, 'collector-db')
    assert.equal(assets[0]?.verdict, 'non-compliant', 'one backup target on its own disk is not 3-2-1-1-0')
    const copies = (await get('/api/v1/copies?node=collector-test')).copies as Record<string, unknown>[]
    assert.equal(copies.length, 1)
    assert.equal((copies[0]?.verification as { state: string }).state, 'verified')
  })
})
