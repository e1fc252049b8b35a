import assert from 'node:assert/strict'
import { test } from 'node:test'
import { planCatchUp } from '../../../src/jobs/btrfs/catch-up.ts'
import type { BtrfsOwned } from '../../../src/jobs/btrfs/snapshots.ts'

/** Local snapshot `name` of /home taken at `hour`, uuid `u<hour>`. */
const snap = (hour: number, readonly = true): BtrfsOwned => {
  const name = `home@backstop_20261110T${String(hour).padStart(2, '0')}0000Z_h`
  return {
    path: `/src/.snapshots/${name}`,
    name,
    readonly,
    parsed: { subvol: 'home', createdAt: new Date(Date.UTC(2026, 10, 10, hour)), tags: undefined },
    sv: {
      id: hour,
      gen: hour,
      topLevel: 5,
      otime: null,
      parentUuid: null,
      receivedUuid: null,
      uuid: `u${hour}`,
      path: name,
    },
  }
}
/** "send <snap> on <parent>" lines, the way an operator would read the plan. */
const sends = (local: BtrfsOwned[], received: string[]): string[] =>
  planCatchUp(local, new Set(received)).map((s) => `${s.snap.sv.uuid} on ${s.parent?.sv.uuid ?? 'nothing (full)'}`)

test('target away three runs: the three missed and the new one go oldest first, each on the one before', () => {
  const local = [snap(0), snap(1), snap(2), snap(3), snap(4)]
  assert.deepEqual(sends(local, ['u0']), ['u1 on u0', 'u2 on u1', 'u3 on u2', 'u4 on u3'])
})

test('up to date: nothing to send; one behind: only the newest, on the common one', () => {
  const local = [snap(0), snap(1), snap(2)]
  assert.deepEqual(sends(local, ['u0', 'u1', 'u2']), [])
  assert.deepEqual(sends(local, ['u0', 'u1']), ['u2 on u1'])
})

test('the newest common snapshot is the start: older ones the target pruned are not back-filled', () => {
  // The target kept only u3 (retention); u0–u2 are not sent again, u4 and u5 are.
  const local = [snap(0), snap(1), snap(2), snap(3), snap(4), snap(5)]
  assert.deepEqual(sends(local, ['u3']), ['u4 on u3', 'u5 on u4'])
  // A stray older replica does not restart the chain before the newest common one.
  assert.deepEqual(sends(local, ['u1', 'u3']), ['u4 on u3', 'u5 on u4'])
})

test('nothing in common: only the newest, in full (as a first ZFS replication)', () => {
  assert.deepEqual(sends([snap(0), snap(1), snap(2)], []), ['u2 on nothing (full)'])
  assert.deepEqual(sends([snap(0), snap(1)], ['foreign']), ['u1 on nothing (full)'])
  assert.deepEqual(sends([], []), [])
})

test('a writable snapshot is never sent nor used as a parent', () => {
  const local = [snap(0), snap(1), snap(2, false), snap(3)]
  assert.deepEqual(sends(local, ['u0']), ['u1 on u0', 'u3 on u1'])
  assert.deepEqual(sends([snap(0), snap(1, false)], []), ['u0 on nothing (full)'])
})
