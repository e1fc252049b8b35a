import assert from 'node:assert/strict'
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { parseCollectorConfig } from '../../src/config/load.ts'
import { startCollector } from '../../src/main.ts'
import { readAsNobody, throwawayGroup } from '../../../test/support/throwaway-group.ts'
import { captureLog, tempDir } from '../support/harness.ts'

const modeOf = (path: string): number => statSync(path).mode & 0o7777

const yaml = (dir: string, group: string): string =>
  `dataDir: ${dir}\ngroup: ${group}\nmqtt: {host: 127.0.0.1, port: 0}\napi: {host: 127.0.0.1, port: 0}\n` +
  `enrollment: {tokens: [static-token-0123456789abcdef]}\ntls: {plaintext: true}\n`

/**
 * Issue 12 (file modes, "0640 with a group from config"): with `group:` the collector's data directory is 0750
 * (set-group-ID) and its database files 0640, all owned by that group, whatever the umask; its keys stay 0600.
 * A member of the group can read the database, another user cannot. Needs root (groupadd, chown, setpriv).
 */
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

test('collector with group: an existing 0700 data dir of another group is given to the group, 0750', async (t) => {
  const group = throwawayGroup(t)
  if (!group) {
    return
  }
  const root = tempDir(t)
  const dir = join(root, 'data')
  mkdirSync(dir)
  chmodSync(dir, 0o700) // as systemd's StateDirectoryMode=0700 leaves it on every start
  assert.notEqual(statSync(dir).gid, group.gid)
  const running = await startCollector(parseCollectorConfig(yaml(dir, group.name), join(root, 'c.yaml')), {
    log: captureLog('warn').log,
  })
  t.after(() => running.stop())
  assert.equal(statSync(dir).gid, group.gid)
  assert.equal(modeOf(dir), 0o2750)
  assert.equal(statSync(join(dir, 'collector.db')).gid, group.gid)
})
