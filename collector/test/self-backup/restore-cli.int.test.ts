import assert from 'node:assert/strict'
import { copyFileSync, existsSync, openSync, readdirSync, writeFileSync, writeSync, closeSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { parseCollectorConfig } from '../../src/config/load.ts'
import { runCli } from '../../src/cli.ts'
import { startCollector } from '../../src/main.ts'
import { captureLog, tempDir, TOKEN } from '../support/harness.ts'

const yaml = (dir: string, backups: string): string =>
  `dataDir: ${dir}/data\nmqtt: {host: 127.0.0.1, port: 0}\napi: {host: 127.0.0.1, port: 0, auth: off}\n` +
  `enrollment: {tokens: [${TOKEN}]}\ningest: {verifyWorkers: 0}\ntls: {plaintext: true}\n` +
  `selfBackup: {node: collector-t, schedule: "7 3 * * *", targets: [{dir: ${backups}, name: second-disk}]}\n`

async function cli(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = []
  const err: string[] = []
  const code = await runCli(['node', 'backstop-collector', ...args], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    start: () => Promise.reject(new Error('not in this test')),
  })
  return { code, out, err }
}

const events = (file: string): { node: string; seq: number }[] => {
  const db = new Database(file, { readonly: true })
  try {
    return db.prepare('SELECT node, seq FROM events ORDER BY node, seq').all() as { node: string; seq: number }[]
  } finally {
    db.close()
  }
}

describe('backstop-collector restore --from <backup> on a temp data dir', () => {
  it('refuses while the collector runs, restores the backup atomically once stopped, keeps the old db', async (t) => {
    const dir = tempDir(t, 'bk-restore-')
    const backups = join(dir, 'backups')
    const configFile = join(dir, 'collector.yaml')
    writeFileSync(configFile, yaml(dir, backups))
    const c = await startCollector(parseCollectorConfig(yaml(dir, backups), configFile), {
      log: captureLog('warn').log,
    })
    let stopped = false
    t.after(() => (stopped ? undefined : c.stop()))
    const insert = c.db.prepare(
      `INSERT INTO events (node, msg_id, seq, kind, ts, received_at, raw) VALUES (?, ?, ?, 'heartbeat', ?, ?, '{}')`,
    )
    await c.selfBackup.service!.runNow() // the catch-up backup of the start (none existed)
    const now = new Date().toISOString()
    for (const [node, seq] of [
      ['pve1', 1],
      ['pve1', 2],
      ['pbs', 5],
    ] as const) {
      insert.run(node, `${node}-${seq}`, seq, now, now)
    }
    // One more backup holds the three events; names are to the second, so not in the catch-up's second.
    await new Promise((r) => setTimeout(r, 1005 - (Date.now() % 1000)))
    const [outcome] = await c.selfBackup.service!.runNow()
    assert.equal(outcome?.verified, true, outcome?.error ?? '')
    const backup = outcome!.path
    insert.run('pve1', 'pve1-3', 3, now, now) // committed after the backup: not in it

    const refused = await cli(['restore', '--from', backup, '--config', configFile])
    assert.equal(refused.code, 1)
    assert.match(refused.err.join('\n'), /^BK_ERR_COLLECTOR_RUNNING: .*process \d+ runs a collector on .*stop it first/)
    assert.equal(events(join(dir, 'data', 'collector.db')).length, 4, 'nothing was touched')

    await c.stop()
    stopped = true
    const restored = await cli(['restore', '--from', backup, '--config', configFile])
    assert.equal(restored.code, 0, restored.err.join('\n'))
    const text = restored.out.join('\n')
    assert.match(text, new RegExp(`^restored ${backup} into ${dir}/data/collector.db`))
    assert.match(text, /taken at: +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z/)
    assert.match(text, /high-water: +pbs 5, pve1 2/)
    assert.match(text, /audit head: +(seq \d+ [0-9a-f]{64}|empty chain)/)
    assert.match(text, /moved aside: .*collector\.db\.before-restore-\d{8}T\d{6}Z.*not deleted/)
    assert.match(text, /next: start the collector.*resends every event after its checkpoint/)

    assert.deepEqual(events(join(dir, 'data', 'collector.db')), [
      { node: 'pbs', seq: 5 },
      { node: 'pve1', seq: 1 },
      { node: 'pve1', seq: 2 },
    ])
    const aside = readdirSync(join(dir, 'data')).find((f) => /^collector\.db\.before-restore-\d{8}T\d{6}Z$/.test(f))
    assert.ok(aside, 'the replaced database is kept')
    assert.equal(events(join(dir, 'data', aside)).length, 4, 'the kept database still holds what it held')
    assert.equal(statSync(join(dir, 'data', 'collector.db')).mode & 0o777, 0o600)

    // The restored collector starts, and its audit chain records the restore and still verifies.
    const again = await startCollector(parseCollectorConfig(yaml(dir, backups), configFile), {
      log: captureLog('warn').log,
    })
    try {
      const audit = again.db.prepare("SELECT action FROM audit_log WHERE action = 'collector.restore'").all()
      assert.equal(audit.length, 1)
      const verify = await cli(['audit', 'verify', '--config', configFile])
      assert.equal(verify.code, 0, verify.err.join('\n'))
    } finally {
      await again.stop()
    }
  })

  it('refuses a missing file, a corrupt copy and a newer schema with what to do, touching nothing', async (t) => {
    const dir = tempDir(t, 'bk-restore-bad-')
    const backups = join(dir, 'backups')
    const configFile = join(dir, 'collector.yaml')
    writeFileSync(configFile, yaml(dir, backups))
    const c = await startCollector(parseCollectorConfig(yaml(dir, backups), configFile), {
      log: captureLog('warn').log,
    })
    const [outcome] = await c.selfBackup.service!.runNow()
    await c.stop()
    const good = outcome!.path
    const before = readdirSync(join(dir, 'data')).sort()

    const missing = await cli(['restore', '--from', join(dir, 'nope.db'), '--config', configFile])
    assert.equal(missing.code, 1)
    assert.match(missing.err.join('\n'), /^BK_ERR_RESTORE_SOURCE: .*nope\.db: ENOENT.*pass --from <file>/)

    const corrupt = join(dir, 'corrupt.db')
    copyFileSync(good, corrupt)
    const size = statSync(corrupt).size
    const fd = openSync(corrupt, 'r+')
    for (let at = 4096 * 2; at < size; at += 4096) {
      writeSync(fd, Buffer.alloc(512, 0xa5), 0, 512, at + 100) // scribble over b-tree pages, header intact
    }
    closeSync(fd)
    const bad = await cli(['restore', '--from', corrupt, '--config', configFile])
    assert.equal(bad.code, 1)
    assert.match(bad.err.join('\n'), /^BK_ERR_RESTORE_CORRUPT: .*corrupt\.db .*is damaged: .*restore an older backup/)

    const future = join(dir, 'future.db')
    copyFileSync(good, future)
    const f = new Database(future)
    f.prepare("INSERT INTO schema_migrations (id, applied_at) VALUES ('9001-from-the-future', 'x')").run()
    f.close()
    const newer = await cli(['restore', '--from', future, '--config', configFile])
    assert.equal(newer.code, 1)
    assert.match(newer.err.join('\n'), /^BK_ERR_RESTORE_NEWER_SCHEMA: .*9001-from-the-future.*version that wrote it/)

    assert.deepEqual(readdirSync(join(dir, 'data')).sort(), before, 'no refusal moved or wrote anything')
    assert.ok(existsSync(join(dir, 'data', 'collector.db')))
  })
})
