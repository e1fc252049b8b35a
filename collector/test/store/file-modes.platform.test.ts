import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import Database from 'better-sqlite3'
import { isBackstopError } from '@backstop/shared'
import { parseCollectorConfig } from '../../src/config/load.ts'
import { startCollector } from '../../src/main.ts'
import { prepareDataDir } from '../../src/store/data-dir.ts'
import { openDb } from '../../src/store/db.ts'
import { captureLog, tempDir } from '../support/harness.ts'

const modeOf = (path: string): string => `0${(statSync(path).mode & 0o777).toString(8)}`

/** Runs the test body under `mask`, the way a shell with a careless umask would start the collector. */
function withUmask(t: TestContext, mask: number): void {
  const previous = process.umask(mask)
  t.after(() => process.umask(previous))
}

/** As root: the ordinary user `nobody` must not be able to read `file` (mode bits alone do not prove that). */
function assertNobodyCannotRead(t: TestContext, file: string): void {
  if (process.getuid?.() !== 0) {
    assert.notEqual(process.env.CI, 'true', 'CI runs platform tests as root: reading as nobody must be checked')
    t.diagnostic(`not root: skipped reading ${file} as nobody`)
    return
  }
  const r = spawnSync('runuser', ['-u', 'nobody', '--', 'cat', file], { encoding: 'utf8' })
  assert.notEqual(r.status, 0, `nobody read ${file}`)
  assert.match(r.stderr, /Permission denied/)
}

test('data dir: created 0700 whatever the umask', (t) => {
  withUmask(t, 0)
  const dir = join(tempDir(t), 'data', 'collector')
  prepareDataDir(dir, 'owner-only')
  assert.equal(modeOf(dir), '0700')
})

test('data dir: an existing 0755 directory is refused, naming the path, its mode and the fix', (t) => {
  const dir = join(tempDir(t), 'data')
  mkdirSync(dir)
  chmodSync(dir, 0o755)
  assert.throws(
    () => prepareDataDir(dir, 'owner-only'),
    (e: unknown) =>
      isBackstopError(e) &&
      e.code === 'BK_ERR_DATA_DIR_EXPOSED' &&
      e.message.includes(`dataDir ${dir} has mode 0755`) &&
      e.message.includes(`chmod 700 ${dir}`),
  )
  assert.equal(modeOf(dir), '0755', 'the directory is reported, not silently changed')
})

test('data dir: group-read allows 0750 but never other users', (t) => {
  const dir = join(tempDir(t), 'data')
  mkdirSync(dir, { mode: 0o750 })
  chmodSync(dir, 0o750)
  prepareDataDir(dir, 'group-read')
  assert.throws(() => prepareDataDir(dir, 'owner-only'), /its group can reach/)
  chmodSync(dir, 0o755)
  assert.throws(() => prepareDataDir(dir, 'group-read'), /other users can reach.*chmod 750/)
})

test('db files: collector.db, -wal and -shm are 0600 after the first write under umask 022', (t) => {
  withUmask(t, 0o022)
  const file = join(tempDir(t), 'collector.db')
  const { db } = openDb({ file })
  t.after(() => db.close())
  db.exec('CREATE TABLE probe (x TEXT)')
  db.prepare('INSERT INTO probe VALUES (?)').run('secret')
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    assert.equal(modeOf(f), '0600', f)
    assertNobodyCannotRead(t, f)
  }
})

test('db files: a 0644 database of an older version is narrowed to 0600, and its new WAL follows', (t) => {
  withUmask(t, 0o022)
  const file = join(tempDir(t), 'collector.db')
  const old = new Database(file)
  old.exec('CREATE TABLE probe (x TEXT)')
  old.close()
  assert.equal(modeOf(file), '0644', 'precondition: better-sqlite3 alone creates 0644 under umask 022')
  const { db } = openDb({ file })
  t.after(() => db.close())
  db.prepare('INSERT INTO probe VALUES (?)').run('secret')
  assert.deepEqual([file, `${file}-wal`, `${file}-shm`].map(modeOf), ['0600', '0600', '0600'])
})

test('db files: 0640 with dataDirAccess group-read', (t) => {
  withUmask(t, 0)
  const file = join(tempDir(t), 'collector.db')
  const { db } = openDb({ file, fileMode: 0o640 })
  t.after(() => db.close())
  db.exec('CREATE TABLE probe (x TEXT)')
  assert.deepEqual([file, `${file}-wal`, `${file}-shm`].map(modeOf), ['0640', '0640', '0640'])
})

test('collector: refuses to start on a 0755 data dir; starts on one it creates, with 0600 files', async (t) => {
  const root = tempDir(t)
  const exposed = join(root, 'exposed')
  mkdirSync(exposed)
  chmodSync(exposed, 0o755)
  const yaml = (dir: string): string =>
    `dataDir: ${dir}\nmqtt: {host: 127.0.0.1, port: 0}\napi: {host: 127.0.0.1, port: 0}\n` +
    `enrollment: {tokens: [static-token-0123456789abcdef]}\ntls: {plaintext: true}\n`
  const cfgFile = join(root, 'c.yaml')
  writeFileSync(cfgFile, yaml(exposed))
  const { log } = captureLog('warn')
  await assert.rejects(startCollector(parseCollectorConfig(yaml(exposed), cfgFile), { log }), {
    code: 'BK_ERR_DATA_DIR_EXPOSED',
  })
  const fresh = join(root, 'fresh')
  const running = await startCollector(parseCollectorConfig(yaml(fresh), cfgFile), { log })
  t.after(() => running.stop())
  assert.equal(modeOf(fresh), '0700')
  for (const f of ['collector.db', 'collector.db-wal', 'collector.db-shm', 'keys/collector.json']) {
    assert.equal(modeOf(join(fresh, f)), '0600', f)
  }
})
