import assert from 'node:assert/strict'
import { test } from 'node:test'
import { planSend } from '../../../src/jobs/zfs/replicate.ts'
import type { ZfsSnapshotInfo } from '../../../src/tools/zfs-parse.ts'

const snap = (dataset: string, name: string, guid: string, createtxg: number): ZfsSnapshotInfo => ({
  fullName: `${dataset}@${name}`,
  dataset,
  name,
  guid,
  createtxg,
  creation: null,
  userrefs: 0,
  used: null,
  referenced: null,
  tags: null,
})

test('planSend: base is the newest (by createtxg) source snapshot whose guid the target has', () => {
  const src = [
    snap('tank/a', 'b', 'g2', 20),
    snap('tank/a', 'a', 'g1', 10),
    snap('tank/a', 'c', 'g3', 30),
    snap('tank/a', 'new', '', 0),
  ]
  const cases: [string, ZfsSnapshotInfo[], ReturnType<typeof planSend>][] = [
    ['first replica: full send', [], { source: 'tank/a', targetDs: 'usb/tank/a', newest: 'new', base: null }],
    [
      'incremental from the newest common by guid',
      [snap('usb/tank/a', 'a', 'g1', 5), snap('usb/tank/a', 'b', 'g2', 6)],
      { source: 'tank/a', targetDs: 'usb/tank/a', newest: 'new', base: 'b' },
    ],
    [
      'a reused name with another guid is not common',
      [snap('usb/tank/a', 'c', 'other', 7), snap('usb/tank/a', 'a', 'g1', 5)],
      { source: 'tank/a', targetDs: 'usb/tank/a', newest: 'new', base: 'a' },
    ],
    ['target already has the newest: nothing to send', [snap('usb/tank/a', 'new', 'gx', 9)], null],
    [
      'snapshots but nothing in common: diverged, never a destructive full receive',
      [snap('usb/tank/a', 'zz', 'g9', 5)],
      'diverged',
    ],
  ]
  for (const [why, target, want] of cases) {
    assert.deepEqual(planSend('tank/a', 'usb/tank/a', src, target, 'new'), want, why)
  }
})
