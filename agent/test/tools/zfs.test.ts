import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import {
  classifyZfsError,
  destroyArgvs,
  lightListArgv,
  listSnapshotsArgv,
  minimalZfsCapabilities,
  parseZfsUsage,
  receiveArgv,
  resumeSendArgv,
  sendArgv,
  snapshotArgvs,
  type ZfsCapabilities,
} from '../../src/tools/zfs.ts'
import {
  parseZfsGetSnapshots,
  parseZfsGuids,
  parseZfsHolds,
  parseZfsLightList,
  parseZfsListSnapshots,
  parseZfsSpace,
  parseZpoolList,
  parseZpoolStatus,
  zpoolAllHealthy,
} from '../../src/tools/zfs-parse.ts'

const fx = (name: string): string => readFileSync(new URL(`../fixtures/zfs/${name}`, import.meta.url), 'utf8')
const openzfs: ZfsCapabilities = {
  parsableList: true,
  holdsCommand: true,
  json: true,
  multiSnapshot: true,
  batchDestroy: true,
  resumable: true,
  receiveNoMount: true,
  receiveProps: true,
  compressedSend: true,
  rawSend: true,
}

test('capabilities from the usage text of each CLI', () => {
  const cases: [string, ZfsCapabilities][] = [
    ['zfs-usage-zfs-fuse-0.7.txt', minimalZfsCapabilities],
    ['zfs-usage-openzfs-2.3.txt', openzfs],
  ]
  for (const [file, want] of cases) {
    assert.deepEqual(parseZfsUsage(fx(file)), want, file)
  }
})

test('listing argv: `list -p` where supported, else `get -Hp -r` (zfs-fuse)', () => {
  assert.deepEqual(listSnapshotsArgv(minimalZfsCapabilities, ['tank/a'], 'backstop:tags'), [
    'zfs',
    'get',
    '-H',
    '-p',
    '-r',
    '-o',
    'name,property,value',
    'guid,createtxg,creation,userrefs,used,referenced,backstop:tags',
    'tank/a',
  ])
  assert.deepEqual(listSnapshotsArgv(openzfs, ['tank/a', 'tank/b']), [
    'zfs',
    'list',
    '-H',
    '-p',
    '-t',
    'snapshot',
    '-o',
    'name,guid,createtxg,creation,userrefs,used,referenced',
    '-s',
    'createtxg',
    '-r',
    'tank/a',
    'tank/b',
  ])
  assert.deepEqual(lightListArgv(['tank/a']), [
    'zfs',
    'list',
    '-H',
    '-t',
    'snapshot',
    '-o',
    'name,userrefs',
    '-r',
    'tank/a',
  ])
})

test('snapshot argv: one atomic call on OpenZFS, one per root on zfs-fuse', () => {
  const targets = [
    { dataset: 'tank/a', recursive: true },
    { dataset: 'tank/b', recursive: true },
    { dataset: 'rpool/c', recursive: false },
  ]
  const props = { 'backstop:tags': 'hd' }
  const cases: [ZfsCapabilities, string[][]][] = [
    [
      openzfs,
      [
        ['zfs', 'snapshot', '-r', '-o', 'backstop:tags=hd', 'tank/a@s', 'tank/b@s'],
        ['zfs', 'snapshot', '-o', 'backstop:tags=hd', 'rpool/c@s'],
      ],
    ],
    [
      minimalZfsCapabilities,
      [
        ['zfs', 'snapshot', '-r', '-o', 'backstop:tags=hd', 'tank/a@s'],
        ['zfs', 'snapshot', '-r', '-o', 'backstop:tags=hd', 'tank/b@s'],
        ['zfs', 'snapshot', '-o', 'backstop:tags=hd', 'rpool/c@s'],
      ],
    ],
  ]
  for (const [caps, want] of cases) {
    assert.deepEqual(snapshotArgvs(caps, targets, 's', props), want)
  }
  assert.deepEqual(snapshotArgvs(openzfs, targets.slice(0, 2), 's', props).length, 1, 'all recursive: one atomic call')
})

test('destroy argv: comma batches on OpenZFS, chunked; one per snapshot on zfs-fuse', () => {
  assert.deepEqual(destroyArgvs(openzfs, 'tank/a', ['x', 'y', 'z']), [['zfs', 'destroy', 'tank/a@x,y,z']])
  assert.deepEqual(destroyArgvs(minimalZfsCapabilities, 'tank/a', ['x', 'y']), [
    ['zfs', 'destroy', 'tank/a@x'],
    ['zfs', 'destroy', 'tank/a@y'],
  ])
  const many = Array.from({ length: 5000 }, (_, i) => `backstop_2026${String(i).padStart(10, '0')}Z`)
  const chunks = destroyArgvs(openzfs, 'tank/a', many)
  assert.ok(chunks.length > 1 && chunks.every((c) => c[2]!.length <= 100_000 + 'tank/a@'.length))
  assert.equal(chunks.flatMap((c) => c[2]!.slice('tank/a@'.length).split(',')).length, 5000)
})

test('recorded failures are classified', () => {
  const cases: [string, ReturnType<typeof classifyZfsError>][] = [
    ['zfs-destroy-busy.stderr.txt', 'busy'],
    ['zfs-list-missing.stderr.txt', 'missing'],
    ['zpool-status-missing.stderr.txt', 'no-pool'],
    ['zfs-list-p-invalid.stderr.txt', 'unsupported'],
    ['zfs-snapshot-multi-unsupported.stderr.txt', 'unsupported'],
    ['cannot receive new filesystem stream: out of space', 'no-space'],
    ['something else entirely', 'other'],
  ]
  for (const [src, want] of cases) {
    const text = src.endsWith('.txt') ? fx(src) : src
    assert.equal(classifyZfsError(text), want, src)
  }
})

test('zfs-fuse `zfs get -Hp -r`: snapshots with exact guid, holds and tags; filesystems skipped', () => {
  const snaps = parseZfsGetSnapshots(fx('zfs-get-Hp-r-snapshots.txt'), 'backstop:tags')
  assert.deepEqual(
    snaps.map((s) => s.fullName),
    [
      'tank/data@backstop_20261101T000000Z',
      'tank/data@backstop_20261102T000000Z',
      'tank/data/vm@backstop_20261101T000000Z',
      'tank/data/vm@backstop_20261102T000000Z',
      'tank/data/vm@manual',
    ],
  )
  const held = snaps[1]!
  assert.equal(held.guid, '15628710980565077866', 'guid kept exactly (beyond 2^53)')
  assert.equal(held.userrefs, 1)
  assert.equal(held.tags, 'hd')
  assert.equal(held.referenced, 122880)
  assert.equal(snaps[4]!.tags, null, 'unset user property (`-`) is null')
})

test('zfs-fuse light list: name, holds, tags (`none`: tagged with nothing, `-`: unset); guids read separately', () => {
  const snaps = parseZfsLightList(fx('zfs-list-light.txt'))
  assert.deepEqual(
    snaps.map((s) => [s.fullName, s.userrefs, s.tags, s.guid, s.creation]),
    [
      ['tank/data@backstop_20261101T000000Z', 1, 'hdwmy', '', null],
      ['tank/data/vm@backstop_20261101T000000Z', 0, 'hdwmy', '', null],
      ['tank/data@backstop_20261101T003000Z', 0, 'none', '', null],
      ['tank/data/vm@backstop_20261101T003000Z', 0, 'none', '', null],
      ['tank/data/vm@manual', 0, null, '', null],
    ],
  )
  assert.deepEqual(
    [...parseZfsGuids(fx('zfs-get-Hp-guids.txt'))],
    [
      ['tank/data@backstop_20261101T000000Z', { guid: '11961249382628681619', createtxg: 17 }],
      ['tank/data/vm@manual', { guid: '7998778851723322100', createtxg: 30 }],
    ],
  )
})

test('OpenZFS `zfs list -Hp`: same records from one line per snapshot', () => {
  const snaps = parseZfsListSnapshots(fx('openzfs-list-Hp-snapshots.txt'), [
    'guid',
    'createtxg',
    'creation',
    'userrefs',
    'used',
    'referenced',
  ])
  assert.equal(snaps.length, 5)
  const s = snaps.find((x) => x.name === 'backstop_20261102T000000Z_hd' && x.dataset === 'tank/data')!
  assert.deepEqual(
    [s.guid, s.createtxg, s.creation?.toISOString(), s.userrefs, s.used, s.tags],
    ['15628710980565077866', 25, '2026-11-02T00:00:00.000Z', 1, 4096, null],
  )
  assert.deepEqual(parseZfsHolds(fx('openzfs-holds-Hp.txt')), [
    { fullName: 'tank/data@backstop_20261102T000000Z_hd', tag: 'backstop-nightly-usb' },
  ])
})

test('zpool status: healthy, degraded and scrubbed pools', () => {
  assert.ok(zpoolAllHealthy(fx('zpool-status-x-healthy.txt')))
  assert.ok(zpoolAllHealthy(fx('zpool-status-x-pool-healthy.txt')))
  assert.ok(!zpoolAllHealthy(fx('zpool-status-x-degraded.txt')))
  const [deg] = parseZpoolStatus(fx('zpool-status-x-degraded.txt'))
  assert.equal(deg!.pool, 'h5mir')
  assert.equal(deg!.state, 'DEGRADED')
  assert.match(deg!.status!, /taken offline by the administrator/)
  assert.equal(deg!.scrub.state, 'none')
  assert.deepEqual(deg!.devices, ['/tmp/h5exp/m1.img', '/tmp/h5exp/m2.img'])
  const [ok] = parseZpoolStatus(fx('zpool-status-scrubbed.txt'))
  assert.deepEqual([ok!.state, ok!.scrub.state, ok!.scrub.errors, ok!.dataErrors.ok], ['ONLINE', 'finished', 0, true])
})

test('zpool list and zfs get space', () => {
  assert.deepEqual(parseZpoolList(fx('zpool-list-H-guid.txt')), [
    {
      name: 'tank',
      size: '123M',
      allocated: '1.07M',
      free: '122M',
      capacityPercent: 0,
      health: 'ONLINE',
      guid: '4801060051946703084',
    },
  ])
  assert.equal(parseZpoolList(fx('zpool-list-H.txt'))[0]!.capacityPercent, 7)
  assert.deepEqual(parseZfsSpace(fx('zfs-get-Hp-pool-space.txt')), { used: 18423808, available: 210165760 })
})

test('replication argv: receive never -F; -u/-s/canmount only where the CLI has them; send -w/-c/-t', () => {
  const fuse = parseZfsUsage(fx('zfs-usage-zfs-fuse-0.7.txt'))
  const open = parseZfsUsage(fx('zfs-usage-openzfs-2.3.txt'))
  assert.deepEqual(receiveArgv('nas/r/tank/data', fuse), ['zfs', 'receive', 'nas/r/tank/data'])
  assert.deepEqual(receiveArgv('nas/r/tank/data', open), [
    'zfs',
    'receive',
    '-u',
    '-s',
    '-o',
    'canmount=noauto',
    'nas/r/tank/data',
  ])
  assert.deepEqual(sendArgv('t/d@b', 't/d@a', { raw: true, compressed: true }), [
    'zfs',
    'send',
    '-w',
    '-c',
    '-I',
    't/d@a',
    't/d@b',
  ])
  assert.deepEqual(resumeSendArgv('1-abc-def'), ['zfs', 'send', '-t', '1-abc-def'])
  assert.equal(classifyZfsError(fx('zfs-receive-modified.stderr.txt')), 'diverged', 'recorded on zfs-fuse')
  assert.equal(
    classifyZfsError(
      'cannot receive incremental stream: most recent snapshot of nas/x does not\nmatch incremental source',
    ),
    'diverged',
  )
  assert.equal(classifyZfsError(fx('zfs-receive-s-unsupported.stderr.txt')), 'unsupported')
  assert.equal(
    classifyZfsError('cannot resume send: incremental source 0x1234abcd no longer exists'),
    'resume-stale',
    'syncoid recovers from this text with receive -A',
  )
})
