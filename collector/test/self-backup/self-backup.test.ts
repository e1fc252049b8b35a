import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { alertKey } from '@backstop/shared'
import { inspectBackup } from '../../src/self-backup/backup-file.ts'
import { H, selfBackupHarness, T0 } from './support.ts'

describe('collector self-backup on its schedule', () => {
  const h = selfBackupHarness({ schedule: '7 * * * *' })
  after(() => h.close())
  const dir = h.config.targets[0]!.dir

  it('catches up at once on the first start, then backs up at each slot of the injected clock', async () => {
    h.event('pve1', 1)
    h.event('pve1', 2)
    h.event('pbs', 7)
    h.audit.append({ actor: 'admin', action: 'token.create', target: 't1', detail: {} }, new Date(h.clock.now()))
    h.service.start()
    await h.service.runNow()
    assert.deepEqual(readdirSync(dir), ['backstop-collector-20261120T000000Z.db'])
    assert.equal(h.verified.length, 1)
    assert.deepEqual(
      [...h.verified[0]!.highWater],
      [
        ['pbs', 7],
        ['pve1', 2],
      ],
    )
    assert.equal(h.verified[0]!.takenAt, '2026-11-20T00:00:00.000Z')
    assert.equal(h.verified[0]!.path, join(dir, 'backstop-collector-20261120T000000Z.db'))

    h.event('pve1', 3)
    h.clock.advance(6 * 60_000) // 00:06: no slot yet
    assert.equal(h.verified.length, 1)
    h.clock.advance(60_000) // 00:07, the slot
    await h.service.runNow()
    assert.equal(h.verified.length, 2)
    assert.equal(h.verified[1]!.highWater.get('pve1'), 3)
    assert.deepEqual(readdirSync(dir).sort(), [
      'backstop-collector-20261120T000000Z.db',
      'backstop-collector-20261120T000700Z.db',
    ])
  })

  it('records each check: integrity ok and the audit head of the copy, which is the live head', () => {
    const [newest] = h.repo.list({ includeDeleted: false, limit: 10 })
    assert.equal(newest?.status, 'verified')
    assert.equal(newest?.integrity, 'ok')
    assert.deepEqual(newest?.auditHead, { seq: 1, hash: h.audit.head()!.hash })
    assert.deepEqual(newest?.highWater, { pbs: 7, pve1: 3 })
    const copy = inspectBackup(join(dir, newest!.file))
    assert.equal(copy.integrity, 'ok')
    assert.ok(copy.migrations.includes('0042-self-backups'))
    // Never fired: no alert row at all (a passing check only resolves one that fired).
    assert.equal(h.part.alertsRepo.get(alertKey('self-backup-failed', 'collector-test', 'local')), undefined)
  })

  it('lists the collector in its own ledger with one copy per backup file', () => {
    h.part.ledger.runNow()
    const asset = h.part.assets.get({ node: 'collector-test', kind: 'file-set', id: 'collector-db' })
    assert.ok(asset, 'the collector asset exists')
    assert.equal(h.part.assets.copies({ node: 'collector-test', kind: 'file-set', id: 'collector-db' }).length, 2)
    assert.equal(T0 + 7 * 60_000, Date.parse('2026-11-20T00:07:00Z'))
    assert.ok(H > 0)
  })
})
