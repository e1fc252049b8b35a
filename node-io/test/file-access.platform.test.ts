import assert from 'node:assert/strict'
import { chmodSync, closeSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { throwawayGroup } from '../../test/support/throwaway-group.ts'
import {
  mkdirData,
  mkdirDataSync,
  openDataFile,
  openDataFileSync,
  setDataFileGroup,
  writeFileDurable,
  writeFileDurableSync,
} from '../src/index.ts'

const modeOf = (p: string): number => statSync(p).mode & 0o777
const gidOf = (p: string): number => statSync(p).gid

/** Under umask 0 (the worst case), in a fresh directory, with the process-wide data-file group reset afterwards. */
function setup(t: TestContext): string {
  const before = process.umask(0)
  const dir = mkdtempSync(join(tmpdir(), 'node-io-access-'))
  t.after(() => {
    process.umask(before)
    setDataFileGroup(undefined)
    rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

/** One file or directory made by each helper that creates data files: their paths. */
async function createWithEachHelper(dir: string): Promise<{ files: string[]; dirs: string[] }> {
  const [a, b, c, d] = ['a.json', 'b.json', 'c.log', 'd.log'].map((f) => join(dir, f)) as [
    string,
    string,
    string,
    string,
  ]
  await writeFileDurable(a, '{}')
  writeFileDurableSync(b, '{}')
  await (await openDataFile(c, 'a')).close()
  closeSync(openDataFileSync(d, 'a'))
  await mkdirData(join(dir, 'e', 'f'))
  mkdirDataSync(join(dir, 'g'))
  return { files: [a, b, c, d], dirs: [join(dir, 'e', 'f'), join(dir, 'g')] }
}

/**
 * Issue 12 (file modes, "0600 / 0640 with a group from config"): every helper that creates a data file or
 * directory follows the configured group — 0640 / 0750 owned by it — and without one stays 0600 / 0700. An
 * explicit mode (a secret's 0600) is kept and not given to the group.
 */
describe('data files and directories follow the configured group', () => {
  it('without a group: files 0600 and directories 0700, the process owner group', async (t) => {
    const dir = setup(t)
    const { files, dirs } = await createWithEachHelper(dir)
    for (const f of files) {
      assert.equal(modeOf(f), 0o600, f)
      assert.equal(gidOf(f), process.getgid?.(), f)
    }
    for (const d of dirs) {
      assert.equal(modeOf(d), 0o700, d)
    }
  })

  it('with a group: files 0640 and directories 0750 owned by it; an explicit 0600 stays private', async (t) => {
    const group = throwawayGroup(t)
    if (!group) {
      return
    }
    const dir = setup(t)
    setDataFileGroup(group)
    const { files, dirs } = await createWithEachHelper(dir)
    for (const f of files) {
      assert.equal(modeOf(f), 0o640, f)
      assert.equal(gidOf(f), group.gid, f)
    }
    for (const d of dirs) {
      assert.equal(modeOf(d), 0o750, d)
      assert.equal(gidOf(d), group.gid, d)
    }
    await writeFileDurable(join(dir, 'key.json'), 'secret', { mode: 0o600 })
    writeFileDurableSync(join(dir, 'key2.json'), 'secret', { mode: 0o600 })
    for (const f of ['key.json', 'key2.json']) {
      assert.equal(modeOf(join(dir, f)), 0o600, f)
      assert.notEqual(gidOf(join(dir, f)), group.gid, `${f} is not given to the group`)
    }
  })

  it('with a group: an existing 0644 file opened for append is narrowed to 0640 and given to the group', async (t) => {
    const group = throwawayGroup(t)
    if (!group) {
      return
    }
    const dir = setup(t)
    const old = join(dir, 'old.log')
    writeFileSync(old, 'x')
    chmodSync(old, 0o644)
    setDataFileGroup(group)
    await (await openDataFile(old, 'a')).close()
    assert.equal(modeOf(old), 0o640)
    assert.equal(gidOf(old), group.gid)
  })

  it("an existing directory is left as it is (it may be the operator's)", async (t) => {
    const group = throwawayGroup(t)
    if (!group) {
      return
    }
    const dir = setup(t)
    const dest = join(dir, 'dest')
    mkdirSync(dest, { mode: 0o755 })
    setDataFileGroup(group)
    await mkdirData(dest)
    assert.equal(modeOf(dest), 0o755)
    assert.notEqual(gidOf(dest), group.gid)
  })
})
