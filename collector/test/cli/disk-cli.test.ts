import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import type { DiskHealthBody } from '@backstop/shared'
import { runCli } from '../../src/cli.ts'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import { createDiskHealthStore } from '../../src/health/disk-health-store.ts'
import { openDb } from '../../src/store/db.ts'
import { tempDir } from '../support/harness.ts'

async function cli(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = []
  const err: string[] = []
  const code = await runCli(['node', 'backstop-collector', ...args], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    start: async () => undefined,
  })
  return { code, out, err }
}

const report = (at: string, reallocatedSectors: number): DiskHealthBody => ({
  at,
  disks: [
    {
      name: '/dev/sdb',
      type: 'sat',
      protocol: 'ATA',
      source: 'smartctl',
      smart: 'passed',
      serial: 'WD-B1',
      counters: { reallocatedSectors },
      failingAttributes: [],
      messages: [],
    },
  ],
  filesystems: [],
  pools: [],
  notes: [],
})

describe('disk CLI: baseline a disk that arrived with damage from the collector host', () => {
  it('acknowledges (audited): the disk is ok and its pre-existing-damage resolves at the next report', async (t) => {
    const dir = tempDir(t)
    const cfg = join(dir, 'collector.yaml')
    writeFileSync(cfg, `dataDir: ${dir}\nenrollment: {tokens: [static-token-0123456789abcdef]}\n`)
    const file = join(dir, 'collector.db')
    const { db } = openDb({ file })
    const first = createDiskHealthStore(db).applyReport('pve1', report('2026-12-01T00:00:00Z', 8), new Date())
    assert.deepEqual(
      first.conditions.map((c) => `${c.severity} ${c.key}`),
      ['warning unhealthy-device/pve1/pre-existing-damage/serial:WD-B1'],
    )
    db.close()

    const bad = await cli(['disk', 'acknowledge', 'pve1', 'serial:NOPE', '-c', cfg])
    assert.equal(bad.code, 1)
    assert.deepEqual(bad.err, [
      'BK_ERR_API_NOT_FOUND: not found: node "pve1" has no disk "serial:NOPE" in its latest report; ' +
        'known: serial:WD-B1',
    ])
    const r = await cli(['disk', 'acknowledge', 'pve1', 'serial:WD-B1', '-c', cfg])
    assert.equal(r.code, 0, r.err.join('\n'))
    assert.deepEqual(r.out, ['pve1 serial:WD-B1: baseline acknowledged (reallocatedSectors 8)'])

    const after = openDb({ file }).db
    t.after(() => after.close())
    const store = createDiskHealthStore(after)
    assert.equal(store.deviceHealth('pve1')('serial:WD-B1'), 'ok')
    const audit = createAuditLog(after).list({ action: 'disk.acknowledge' })
    assert.deepEqual(
      audit.map((e) => [e.actor.startsWith('cli:'), e.target, e.detail]),
      [[true, 'pve1/serial:WD-B1', { counters: { reallocatedSectors: 8 } }]],
    )
    const next = store.applyReport('pve1', report('2026-12-01T01:00:00Z', 8), new Date())
    assert.deepEqual(
      next.conditions.map((c) => `${c.firing ? 'firing' : 'resolved'} ${c.key}`),
      ['resolved unhealthy-device/pve1/pre-existing-damage/serial:WD-B1'],
    )
  })
})
