import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { runCli } from '../../src/cli.ts'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import { openDb } from '../../src/store/db.ts'
import { createLedgerAssetsRepo } from '../../src/store/ledger-assets-repo.ts'
import { createLedgerChangesRepo } from '../../src/store/ledger-changes-repo.ts'
import { tempDir } from '../support/harness.ts'
import { createStorageIdentities } from '../../src/store/storage-identities.ts'

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

describe('media CLI: rotation from the collector host', () => {
  it('records the site of a medium, audits it, and queues the assets with copies on it for re-judging', async (t) => {
    const dir = tempDir(t)
    const cfg = join(dir, 'collector.yaml')
    writeFileSync(cfg, `dataDir: ${dir}\nenrollment: {tokens: [static-token-0123456789abcdef]}\n`)
    const file = join(dir, 'collector.db')
    const { db } = openDb({ file })
    const storageId = createStorageIdentities(db).idOf({
      host: 'pve1',
      site: 'home',
      devices: [],
      fsUuid: 'USB-1',
      media: 'usb',
    })
    db.prepare(
      `INSERT INTO copies (node, copy_id, asset_kind, asset_id, location_kind, location_target, name, media, offsite,
        offline, immutable, storage_id, created_at, verification_state, last_reported_at)
       VALUES ('pve1', 'c1', 'btrfs-subvolume', '/data', 'btrfs', '/mnt/usb', 's1', 'usb', 0, 0, 0, ?,
        '2026-12-01T00:00:00Z', 'verified', '2026-12-01T00:00:00Z')`,
    ).run(storageId)
    createLedgerChangesRepo(db).doneThrough(Number.MAX_SAFE_INTEGER)
    db.close()

    const r = await cli(['media', 'site', 'USB-1', 'office', '--note', 'weekly rotation', '-c', cfg])
    assert.equal(r.code, 0, r.err.join('\n'))
    assert.deepEqual(r.out, ['medium usb-1: at site office; 1 asset(s) to re-judge', '  pve1/btrfs-subvolume//data'])

    const after = openDb({ file }).db
    t.after(() => after.close())
    assert.equal(createLedgerAssetsRepo(after).mediumSites()['usb-1']?.site, 'office')
    assert.deepEqual(
      createLedgerChangesRepo(after)
        .take(10)
        .map((c) => c.change),
      [{ kind: 'asset', node: 'pve1', assetKind: 'btrfs-subvolume', assetId: '/data' }],
    )
    const audit = createAuditLog(after).list({ action: 'medium.site' })
    assert.deepEqual(
      audit.map((e) => [e.actor.startsWith('cli:'), e.target, e.detail]),
      [[true, 'usb-1', { site: 'office', note: 'weekly rotation' }]],
    )
  })
})
