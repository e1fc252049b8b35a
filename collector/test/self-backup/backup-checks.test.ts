import assert from 'node:assert/strict'
import {
  closeSync,
  copyFileSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { alertKey, type StorageIdentity } from '@backstop/shared'
import { inspectBackup, inspectOffThread } from '../../src/self-backup/backup-file.ts'
import { problemOf } from '../../src/self-backup/self-backup-service.ts'
import { dataDisk, H, selfBackupHarness } from './support.ts'

const ASSET = { node: 'collector-test', kind: 'file-set', id: 'collector-db' }

describe('a backup taken while the ingest commits (WAL database, same connection)', () => {
  const h = selfBackupHarness()
  after(() => h.close())

  it('is a consistent snapshot: integrity ok, every seq up to its high-water present, none after it', async () => {
    const raw = 'x'.repeat(800)
    const insert = h.db.prepare(
      'INSERT INTO events (node, msg_id, seq, kind, ts, received_at, raw) ' +
        "VALUES ('live', ?, ?, 'heartbeat', '', '', ?)",
    )
    let seq = 0
    h.db.transaction(() => {
      for (; seq < 20_000;) {
        seq++
        insert.run(`m${seq}`, seq, raw)
      }
    })()
    const atStart = seq
    let done = false
    const backup = h.service.runNow().finally(() => {
      done = true
    })
    // One committed ingest batch per turn of the event loop while the backup copies its pages.
    while (!done) {
      seq++
      insert.run(`m${seq}`, seq, raw)
      await new Promise((r) => setImmediate(r))
    }
    const [outcome] = await backup
    assert.equal(outcome?.verified, true, outcome?.error ?? '')
    assert.ok(seq > atStart + 1, `the ingest committed during the backup (${seq - atStart} batches)`)
    const copy = new Database(outcome!.path, { readonly: true })
    const r = copy.prepare("SELECT count(*) AS n, max(seq) AS top FROM events WHERE node = 'live'").get() as {
      n: number
      top: number
    }
    copy.close()
    assert.equal(r.n, r.top, 'no seq missing below the copy high-water')
    assert.ok(r.top >= atStart && r.top <= seq)
    assert.equal(h.verified[0]?.highWater.get('live'), r.top, 'the checkpoint covers exactly what the file holds')
    assert.equal(inspectBackup(outcome!.path).integrity, 'ok')
  })
})

describe('a damaged or foreign copy is detected', () => {
  const h = selfBackupHarness()
  after(() => h.close())

  it('integrity_check of a copy with scribbled pages is not ok, and the check says so', async () => {
    h.db.transaction(() => {
      for (let s = 1; s <= 3000; s++) {
        h.event('pve1', s)
      }
    })()
    h.audit.append({ actor: 'admin', action: 'token.create', target: 't', detail: {} }, new Date(h.clock.now()))
    const [outcome] = await h.service.runNow()
    assert.equal(outcome?.verified, true)
    const damaged = join(h.root, 'damaged.db')
    copyFileSync(outcome!.path, damaged)
    const fd = openSync(damaged, 'r+')
    for (let at = 8192; at < statSync(damaged).size; at += 4096) {
      writeSync(fd, Buffer.alloc(400, 0x5a), 0, 400, at + 200)
    }
    closeSync(fd)
    const i = inspectBackup(damaged)
    assert.notEqual(i.integrity, 'ok')
    assert.match(problemOf(i, h.audit.head(), h.audit) ?? '', /^PRAGMA integrity_check of the copy: /)
  })

  it('the check on a worker thread (as main.ts runs it) reports what the inline check does', async () => {
    const [newest] = h.repo.list({ includeDeleted: false, limit: 1 })
    const path = join(newest!.dir, newest!.file)
    const off = await inspectOffThread(path)
    assert.deepEqual(off, inspectBackup(path))
    assert.equal(off.highWater.get('pve1'), 3000, 'the per-node Map survives the thread boundary')
  })

  it('a copy whose audit head is not in the live chain, or older than the head at the start, fails', () => {
    const [newest] = h.repo.list({ includeDeleted: false, limit: 1 })
    const i = inspectBackup(join(newest!.dir, newest!.file))
    assert.equal(problemOf(i, h.audit.head(), h.audit), null)
    const forked = { list: () => [{ ...h.audit.head()!, hash: 'f'.repeat(64) }] }
    assert.match(problemOf(i, h.audit.head(), forked) ?? '', /audit head \(seq 1, .*\) is not in the live chain/)
    assert.match(problemOf(i, { seq: 2, hash: 'a'.repeat(64) }, h.audit) ?? '', /older than the live head/)
  })

  it('a target that cannot be written fails: recorded, alerted critical, no checkpoint, no ledger copy', async () => {
    const h2 = selfBackupHarness({ targets: [{ dir: '/dev/null/backups', name: 'broken' }] })
    try {
      const [outcome] = await h2.service.runNow()
      assert.equal(outcome?.verified, false)
      assert.match(outcome?.error ?? '', /ENOTDIR/)
      assert.equal(h2.verified.length, 0)
      assert.equal(h2.repo.list({ includeDeleted: false, limit: 5 })[0]?.status, 'failed')
      const alert = h2.part.alertsRepo.get(alertKey('self-backup-failed', 'collector-test', 'broken'))
      assert.equal(alert?.state, 'firing')
      assert.equal(alert?.severity, 'critical')
      assert.match(alert?.summary ?? '', /backup to broken \(\/dev\/null\/backups\) failed: .*ENOTDIR/)
      assert.equal(h2.part.assets.copies(ASSET).length, 0)
    } finally {
      await h2.close()
    }
  })
})

describe('overdue and recovery of a target', () => {
  it('raises self-backup-overdue a grace after a slot with no verified backup, resolves both on success', async () => {
    const h = selfBackupHarness({ schedule: '0 * * * *', overdueGraceMinutes: 30 })
    try {
      const dir = h.config.targets[0]!.dir
      writeFileSync(dir, 'a file where the directory should be')
      h.service.start()
      await h.service.runNow()
      const failed = alertKey('self-backup-failed', 'collector-test', 'local')
      const overdue = alertKey('self-backup-overdue', 'collector-test', 'local')
      assert.equal(h.part.alertsRepo.get(failed)?.state, 'firing')
      h.clock.advance(H) // 01:00 slot: fails again
      await h.service.runNow()
      assert.equal(h.part.alertsRepo.get(overdue), undefined, 'not overdue before slot + grace')
      h.clock.advance(30 * 60_000) // 01:30: the 01:00 slot plus 30 min grace passed
      assert.equal(h.part.alertsRepo.get(overdue)?.state, 'firing')
      assert.match(h.part.alertsRepo.get(overdue)?.summary ?? '', /no verified backup .* on local/)
      rmSync(dir)
      mkdirSync(dir)
      h.clock.advance(30 * 60_000) // 02:00 slot succeeds
      await h.service.runNow()
      assert.equal(h.part.alertsRepo.get(failed)?.state, 'resolved')
      assert.equal(h.part.alertsRepo.get(overdue)?.state, 'resolved')
    } finally {
      await h.close()
    }
  })
})

describe('GFS keep of the backup files (the shared retention engine)', () => {
  it('keeps last 2 and one per day for 3 days; removes the rest from disk, the record and the ledger', async () => {
    const h = selfBackupHarness({
      schedule: '0 */6 * * *',
      retention: { keep: { last: 2, hourly: 0, daily: 3, weekly: 0, monthly: 0, yearly: 0 } },
    })
    try {
      h.service.start()
      await h.service.runNow()
      for (let i = 0; i < 19; i++) {
        h.clock.advance(6 * H)
        await h.service.runNow()
      }
      const dir = h.config.targets[0]!.dir
      assert.deepEqual(readdirSync(dir).sort(), [
        'backstop-collector-20261122T000000Z.db',
        'backstop-collector-20261123T000000Z.db',
        'backstop-collector-20261124T000000Z.db',
        'backstop-collector-20261124T120000Z.db',
        'backstop-collector-20261124T180000Z.db',
      ])
      const all = h.repo.list({ includeDeleted: true, limit: 100 })
      assert.equal(all.length, 20)
      const gone = all.filter((b) => b.deleted !== null)
      assert.equal(gone.length, 15)
      assert.match(gone[0]!.deleted!.rule, /kept by no rule/)
      h.part.ledger.runNow()
      assert.equal(h.part.assets.copies(ASSET).length, 5, 'only kept files are live copies')
    } finally {
      await h.close()
    }
  })
})

describe("the collector asset's 3-2-1-1-0 verdict", () => {
  const usbAtOffice: StorageIdentity = {
    host: 'coll',
    site: 'office',
    devices: [{ id: 'serial:USB123', transport: 'usb', removable: true }],
    fsUuid: 'usb-fs',
    media: 'usb',
  }

  it('a target on the collector own disk is a version, not a second copy', async () => {
    const h = selfBackupHarness()
    try {
      h.service.start()
      await h.service.runNow()
      h.part.ledger.runNow()
      const a = h.part.assets.get(ASSET)
      assert.equal(a?.verdict, 'non-compliant')
      assert.equal(a?.counts['copies'], 1, 'production only')
      assert.equal(a?.counts['versions'], 1)
      assert.match(a?.places[0]?.why ?? '', /./)
      assert.equal(a?.places[0]?.counted, false)
      const alert = h.part.alertsRepo.get(alertKey('non-compliant', 'collector-test', 'file-set/collector-db'))
      assert.equal(alert?.state, 'firing')
    } finally {
      await h.close()
    }
  })

  it('a target on another disk at another site counts as an offsite copy on a second media type', async () => {
    const h = selfBackupHarness({ targets: [{ dir: '@/usb', name: 'usb', site: 'office' }] }, (dir) =>
      dir.endsWith('/usb') ? usbAtOffice : dataDisk,
    )
    try {
      h.service.start()
      await h.service.runNow()
      h.part.ledger.runNow()
      const a = h.part.assets.get(ASSET)
      assert.equal(a?.counts['copies'], 2, 'production and the USB disk')
      assert.equal(a?.counts['mediaTypes'], 2)
      assert.equal(a?.counts['offsite'], 1)
      assert.equal(a?.counts['versions'], 0)
      // Still short of 3-2-1-1-0: a third place and an offline or immutable copy are missing, and it says so.
      assert.equal(a?.verdict, 'non-compliant')
      assert.ok(a?.reasons.some((r) => /offline|immutable/i.test(r.message)))
    } finally {
      await h.close()
    }
  })
})
