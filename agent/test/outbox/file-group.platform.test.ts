import assert from 'node:assert/strict'
import { chmodSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { setDataFileGroup } from '@backstop/node-io'
import { readAsNobody, throwawayGroup } from '../../../test/support/throwaway-group.ts'
import { tempDir, writeEveryOutboxFile } from './support.ts'

/**
 * Issue 12 (file modes, "0640 with a group from config"): with the agent's `group:` set (main.ts sets it
 * process-wide from the config), every file the outbox creates — segments, acks.log, checkpoint.json, keep.json,
 * dead letters, the lock — is 0640 and its directory 0750, owned by that group, whatever the umask (0 here).
 */
describe('outbox file modes with a group', () => {
  it('every outbox file is 0640 and its directory 0750, owned by the group, under umask 0', async (t) => {
    const group = throwawayGroup(t)
    if (!group) {
      return
    }
    const before = process.umask(0)
    setDataFileGroup(group)
    t.after(() => {
      process.umask(before)
      setDataFileGroup(undefined)
    })
    const root = tempDir(t)
    chmodSync(root, 0o755) // the outbox directory itself decides who gets in
    const dir = join(root, 'outbox')
    const names = await writeEveryOutboxFile(dir)
    assert.equal(statSync(dir).mode & 0o777, 0o750, 'the outbox directory')
    assert.equal(statSync(dir).gid, group.gid, 'the outbox directory belongs to the group')
    for (const n of names) {
      assert.equal(statSync(join(dir, n)).mode & 0o777, 0o640, n)
      assert.equal(statSync(join(dir, n)).gid, group.gid, `${n} belongs to the group`)
    }
    const seg = names.find((n) => n.startsWith('seg-')) as string
    assert.ok(readAsNobody(join(dir, seg), group.gid).ok, 'a member of the group reads a segment')
    assert.equal(readAsNobody(join(dir, seg)).ok, false, 'a user outside it does not')
  })
})
