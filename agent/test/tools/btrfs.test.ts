import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { classifyBtrfsError, deleteArgv, sendArgv } from '../../src/tools/btrfs.ts'
import {
  mountOf,
  parseDeviceStatsJson,
  parseDeviceStatsText,
  parseFindmnt,
  parseReadonlyProperty,
  parseScrubStatus,
  parseSubvolumeList,
  parseSubvolumeShow,
} from '../../src/tools/btrfs-parse.ts'
import { absolutePath, parseBtrfsSnapshotName, btrfsSnapshotName } from '../../src/jobs/btrfs/fs.ts'
import { chooseParent } from '../../src/jobs/btrfs/catch-up.ts'
import type { BtrfsOwned } from '../../src/jobs/btrfs/snapshots.ts'

const fx = (name: string): string => readFileSync(new URL(`../fixtures/btrfs/${name}`, import.meta.url), 'utf8')

test('subvolume list -s -u -q -R (source) and -u -q -R (target, received)', () => {
  const src = parseSubvolumeList(fx('subvolume-list-s-uqR-source.txt'))
  assert.deepEqual(
    src.map((s) => [s.id, s.path, s.otime, s.receivedUuid]),
    [
      [257, '.snapshots/data@s1', '2026-11-22 01:53:43', null],
      [258, '.snapshots/data@s2', '2026-11-22 01:53:43', null],
    ],
  )
  assert.equal(src[0]!.parentUuid, '41121797-344c-884a-a114-92b1076b0212')
  const dst = parseSubvolumeList(fx('subvolume-list-uqR-target.txt'))
  assert.deepEqual(
    dst.map((s) => [s.path, s.receivedUuid]),
    [
      ['replica/data@s1', src[0]!.uuid],
      ['replica/data@s2', src[1]!.uuid],
    ],
    'received_uuid of each replica is the uuid of the snapshot it came from',
  )
  assert.equal(parseSubvolumeList(fx('subvolume-list-o.txt')).length, 3)
})

test('subvolume show: source snapshot and received replica', () => {
  const s = parseSubvolumeShow(fx('subvolume-show-source-snapshot.txt'))
  assert.deepEqual(
    [s.name, s.uuid, s.receivedUuid, s.readonly],
    ['data@s2', '54c6a591-402c-3a4d-ade3-6212ec00d7f8', null, true],
  )
  const r = parseSubvolumeShow(fx('subvolume-show-received.txt'))
  assert.deepEqual(
    [r.receivedUuid, r.readonly, r.creationTime],
    ['54c6a591-402c-3a4d-ade3-6212ec00d7f8', true, '2026-11-22 01:53:43 +0000'],
  )
})

test('device stats (JSON and text agree), scrub status, ro property, findmnt', () => {
  const json = parseDeviceStatsJson(fx('device-stats.json'))
  assert.deepEqual(json, parseDeviceStatsText(fx('device-stats.txt')))
  assert.deepEqual(json, [
    { device: '/dev/loop0', writeIoErrs: 0, readIoErrs: 0, flushIoErrs: 0, corruptionErrs: 0, generationErrs: 0 },
  ])
  assert.deepEqual(
    parseDeviceStatsText('[/dev/sdb].write_io_errs 3\n[/dev/sdb].corruption_errs 2\n').map((d) => [
      d.writeIoErrs,
      d.corruptionErrs,
    ]),
    [[3, 2]],
  )
  const cases: [string, string, boolean][] = [
    ['scrub-status-never.txt', 'never', true],
    ['scrub-status-finished.txt', 'finished', true],
  ]
  for (const [file, status, ok] of cases) {
    const s = parseScrubStatus(fx(file))
    assert.deepEqual([s.status, s.ok], [status, ok], file)
  }
  assert.equal(parseScrubStatus('Status:           finished\nError summary:    csum=3\n  Uncorrectable: 3\n').ok, false)
  assert.equal(parseReadonlyProperty(fx('property-ro-true.txt')), true)
  assert.equal(parseReadonlyProperty(fx('property-ro-false.txt')), false)
  const [m] = parseFindmnt(fx('findmnt-json.txt'))
  assert.deepEqual(
    [m!.target, m!.source, m!.uuid, m!.label],
    ['/tmp/h5exp/m1', '/dev/loop0', '61a0ac68-a94b-4a7e-9c48-6b9eda50973b', 'h5b1'],
  )
})

test('mount lookup and top-level-relative paths (plain and subvolume mounts)', () => {
  const mounts = parseFindmnt(
    JSON.stringify({
      filesystems: [
        { target: '/', source: '/dev/sda1', fstype: 'ext4', uuid: 'a', label: null, fsroot: '/' },
        {
          target: '/mnt/data',
          source: '/dev/sdb[/@data]',
          fstype: 'btrfs',
          uuid: 'b',
          label: 'data',
          fsroot: '/@data',
        },
        { target: '/mnt/data/usb', source: '/dev/sdc', fstype: 'btrfs', uuid: 'c', label: 'usb', fsroot: '/' },
      ],
    }),
  )
  assert.equal(mountOf(mounts, '/mnt/data/home')?.uuid, 'b')
  assert.equal(mountOf(mounts, '/mnt/data/usb/x')?.uuid, 'c')
  assert.equal(mountOf(mounts, '/mnt/database')?.uuid, 'a', 'a prefix of the name is not a parent directory')
  assert.equal(mounts[1]!.source, '/dev/sdb')
  assert.equal(absolutePath(mounts[1]!, '@data/home'), '/mnt/data/home')
  assert.equal(absolutePath(mounts[1]!, '@other/home'), null, 'not visible through this mount')
  assert.equal(absolutePath(mounts[2]!, 'backstop/x'), '/mnt/data/usb/backstop/x')
})

test('our snapshot names round-trip; anything else is not ours', () => {
  const at = new Date('2026-11-22T01:45:00Z')
  const name = btrfsSnapshotName('home', 'backstop', at, 'dwm')
  assert.equal(name, 'home@backstop_20261122T014500Z_dwm')
  assert.deepEqual(parseBtrfsSnapshotName(name, 'backstop'), {
    subvol: 'home',
    createdAt: at,
    tags: ['daily', 'weekly', 'monthly'],
  })
  for (const other of [
    'home@manual',
    'home@backstop_20261122T014500Z',
    'home@backstop_20261322T014500Z_d',
    'home@other_20261122T014500Z_d',
    'home.20261122T0145',
  ]) {
    assert.equal(parseBtrfsSnapshotName(other, 'backstop'), null, other)
  }
  assert.deepEqual(
    parseBtrfsSnapshotName('home@backstop_20261122T014500Z_-', 'backstop')?.tags,
    [],
    '`-` = tagged with nothing',
  )
})

test('send parent: newest older read-only local snapshot the target received', () => {
  const o = (name: string, uuid: string, hour: number, ro = true): BtrfsOwned => ({
    path: `/s/${name}`,
    name,
    readonly: ro,
    parsed: { subvol: 'home', createdAt: new Date(Date.UTC(2026, 10, 1, hour)), tags: undefined },
    sv: { id: hour, gen: hour, topLevel: 5, otime: null, parentUuid: null, receivedUuid: null, uuid, path: name },
  })
  const local = [o('a', 'u1', 1), o('b', 'u2', 2), o('c', 'u3', 3, false), o('d', 'u4', 4)]
  assert.equal(chooseParent(local, local[3]!, new Set(['u1', 'u2', 'u3']))?.name, 'b', 'writable c is skipped')
  assert.equal(chooseParent(local, local[3]!, new Set(['zz'])), null, 'nothing in common → full send')
  assert.equal(chooseParent(local, local[0]!, new Set(['u2'])), null, 'only older snapshots can be parents')
})

test('btrfs argv and failures', () => {
  assert.deepEqual(sendArgv('/s/b', '/s/a'), ['btrfs', 'send', '-q', '-p', '/s/a', '/s/b'])
  assert.deepEqual(deleteArgv(['/s/a', '/s/b']), ['btrfs', 'subvolume', 'delete', '--commit-after', '/s/a', '/s/b'])
  assert.equal(classifyBtrfsError(fx('subvolume-delete-missing.stderr.txt')), 'missing')
  assert.equal(classifyBtrfsError(fx('subvolume-show-missing.stderr.txt')), 'missing')
  assert.equal(classifyBtrfsError('ERROR: failed to write: No space left on device'), 'no-space')
})
