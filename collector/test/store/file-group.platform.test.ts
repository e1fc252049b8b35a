import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { parseCollectorConfig } from '../../src/config/load.ts'
import { startCollector } from '../../src/main.ts'
import { captureLog, tempDir } from '../support/harness.ts'

/**
 * Issue 12 (file modes, "0640 with a group from config"): with `group:` the collector's data directory is 0750
 * (set-group-ID) and its database files 0640, all owned by that group, whatever the umask; its keys stay 0600.
 * A member of the group can read the database, another user cannot. Needs root (groupadd, chown, setpriv).
 */
function throwawayGroup(t: TestContext): { name: string; gid: number } | undefined {
  if (process.getuid?.() !== 0) {
    assert.notEqual(process.env.CI, 'true', 'CI runs platform tests as root')
    t.skip('not root: cannot create a group')
    return undefined
  }
  const name = `bk-readers-${process.pid}-${Math.random().toString(36).slice(2, 6)}`
  const add = spawnSync('groupadd', ['--system', name], { encoding: 'utf8' })
  assert.equal(add.status, 0, `groupadd ${name}: ${add.stderr}`)
  t.after(() => void spawnSync('groupdel', [name]))
  const entry = spawnSync('getent', ['group', name], { encoding: 'utf8' }).stdout.split(':')
  return { name, gid: Number(entry[2]) }
}

/** Reads `file` as the user nobody, with or without `gid` as a supplementary group. */
function readAsNobody(file: string, gid?: number): { ok: boolean; stderr: string } {
  const groups = gid === undefined ? ['--clear-groups'] : [`--groups=${gid}`]
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', ...groups, '--', 'cat', file], {
    encoding: 'utf8',
  })
  return { ok: r.status === 0, stderr: r.stderr }
}

const modeOf = (path: string): number => statSync(path).mode & 0o7777

const yaml = (dir: string, group: string): string =>
  `dataDir: ${dir}\ngroup: ${group}\nmqtt: {host: 127.0.0.1, port: 0}\napi: {host: 127.0.0.1, port: 0}\n` +
  `enrollment: {tokens: [static-token-0123456789abcdef]}\ntls: {plaintext: true}\n`

test('collector with group: data dir 0750 (setgid) and db files 0640 owned by the group under umask 0', async (t) => {
  const group = throwawayGroup(t)
  if (!group) {
    return
  }
  const previous = process.umask(0)
  t.after(() => process.umask(previous))
  const root = tempDir(t)
  chmodSync(root, 0o755) // so that nobody can reach the data dir's parent; the data dir itself decides
  const dir = join(root, 'data')
  const cfgFile = join(root, 'c.yaml')
  writeFileSync(cfgFile, yaml(dir, group.name))
  const config = parseCollectorConfig(yaml(dir, group.name), cfgFile)
  assert.deepEqual(config.group, group)
  assert.equal(config.dataDirAccess, 'group-read')

  const running = await startCollector(config, { log: captureLog('warn').log })
  t.after(() => running.stop())
  assert.equal(modeOf(dir), 0o2750, 'the data dir: 0750 and set-group-ID')
  assert.equal(statSync(dir).gid, group.gid)
  for (const f of ['collector.db', 'collector.db-wal', 'collector.db-shm']) {
    assert.equal(modeOf(join(dir, f)), 0o640, f)
    assert.equal(statSync(join(dir, f)).gid, group.gid, `${f} belongs to ${group.name}`)
  }
  assert.equal(modeOf(join(dir, 'keys/collector.json')), 0o600, 'the signing key stays owner-only')

  const db = join(dir, 'collector.db')
  assert.ok(readAsNobody(db, group.gid).ok, 'a member of the group reads the database')
  const outsider = readAsNobody(db)
  assert.equal(outsider.ok, false, 'a user outside the group does not')
  assert.match(outsider.stderr, /Permission denied/)
  assert.equal(readAsNobody(join(dir, 'keys/collector.json'), group.gid).ok, false, 'nor the key, even in the group')
})

test('collector with group: an existing 0750 data dir of another group is given to the configured group', async (t) => {
  const group = throwawayGroup(t)
  if (!group) {
    return
  }
  const root = tempDir(t)
  const dir = join(root, 'data')
  mkdirSync(dir)
  chmodSync(dir, 0o750)
  assert.notEqual(statSync(dir).gid, group.gid)
  const running = await startCollector(parseCollectorConfig(yaml(dir, group.name), join(root, 'c.yaml')), {
    log: captureLog('warn').log,
  })
  t.after(() => running.stop())
  assert.equal(statSync(dir).gid, group.gid)
  assert.equal(modeOf(dir), 0o2750)
  assert.equal(statSync(join(dir, 'collector.db')).gid, group.gid)
})
