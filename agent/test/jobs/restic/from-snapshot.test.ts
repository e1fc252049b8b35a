import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { isBackstopError } from '@backstop/shared'
import { FixtureExec, type ExecFixture } from '../../../src/exec/fixture-exec.ts'
import { backupInvocation, parentOf, sourceSnapshotOf } from '../../../src/jobs/restic/backup-argv.ts'
import { resolveResticJob, type ResticJobInput } from '../../../src/jobs/restic/config.ts'
import { parseSnapshots } from '../../../src/jobs/restic/parse.ts'
import { takeSourceSnapshot } from '../../../src/jobs/restic/source-snapshot.ts'

const fx = (p: string): string => readFileSync(new URL(`../../fixtures/${p}`, import.meta.url), 'utf8')

const base: ResticJobInput = {
  kind: 'restic',
  name: 'data',
  repository: { url: 'rest:http://nas:8000/' },
  password: { file: '/etc/backstop/restic.pw' },
}

function configError(input: ResticJobInput): string {
  try {
    resolveResticJob(input, 'UTC')
  } catch (e) {
    assert.ok(isBackstopError(e) && e.code === 'BK_ERR_CONFIG_INVALID', String(e))
    return e.message
  }
  assert.fail('expected a config error')
}

describe('restic source config', () => {
  it('resolves a ZFS dataset or a btrfs subvolume with its snapshot directory', () => {
    const zfs = resolveResticJob({ ...base, source: { zfs: 'tank/data' } }, 'UTC')
    assert.deepEqual(zfs.source, ZFS)
    assert.deepEqual(zfs.paths, [])
    const btrfs = resolveResticJob({ ...base, source: { btrfs: '/srv/data/', snapshotDir: '/srv/.snaps' } }, 'UTC')
    assert.deepEqual(btrfs.source, { kind: 'btrfs', subvolume: '/srv/data', snapshotDir: '/srv/.snaps' })
    assert.equal(resolveResticJob({ ...base, paths: ['/etc'] }, 'UTC').source, null)
  })

  it('refuses what would be wrong, saying where and how to fix it', () => {
    assert.match(configError(base), /jobs\.data\.paths: set `paths:` .* or `source: \{ zfs: <dataset> \}`/)
    assert.match(
      configError({ ...base, paths: ['/etc'], source: { zfs: 'tank/data' } }),
      /jobs\.data\.source: set either `paths:` or `source:`, not both .* second restic job/,
    )
    assert.match(configError({ ...base, source: {} }), /exactly one of `zfs: <dataset>` or `btrfs:/)
    assert.match(configError({ ...base, source: { zfs: 'tank/a', btrfs: '/srv/a' } }), /exactly one of/)
    assert.match(
      configError({ ...base, source: { zfs: 'tank/a', snapshotDir: '/x' } }),
      /jobs\.data\.source\.snapshotDir: only for btrfs/,
    )
    assert.match(
      configError({ ...base, source: { btrfs: '/srv/data' } }),
      /jobs\.data\.source\.snapshotDir: btrfs needs a directory .* same filesystem as \/srv\/data/,
    )
    assert.match(
      configError({ ...base, source: { btrfs: '/srv/data', snapshotDir: '/srv/data/.snaps' } }),
      /\/srv\/data\/\.snaps is inside \/srv\/data/,
    )
    assert.match(configError({ ...base, source: { btrfs: '/srv/a,b', snapshotDir: '/srv/s' } }), /comma/)
    assert.match(
      configError({ ...base, source: { btrfs: '/srv/a', snapshotDir: '/srv/s', snapshot: 'newest' } }),
      /jobs\.data\.source\.snapshot: `newest` is implemented for ZFS only/,
    )
  })
})

describe('restic backup argv', () => {
  const snaps = parseSnapshots(fx('restic/snapshots-json-from-snapshot-0.14.json'))

  it('live paths: unchanged — restic finds its own parent by the same paths', () => {
    const cfg = resolveResticJob({ ...base, paths: ['/etc', '/srv'], exclude: ['*.tmp'] }, 'UTC')
    assert.deepEqual(backupInvocation(cfg, null, null), {
      args: ['backup', '--json', '--tag', 'backstop:data', '--exclude', '*.tmp', '--', '/etc', '/srv'],
    })
  })

  it('a snapshot: `.` inside its directory, the snapshot tag, its creation as --time (UTC), the parent', () => {
    const cfg = resolveResticJob({ ...base, source: { zfs: 'tank/data' } }, 'UTC')
    const snap = {
      fullName: 'tank/data@backstop-restic_20261205T100000Z',
      dir: '/tank/data/.zfs/snapshot/backstop-restic_20261205T100000Z',
      createdAt: new Date('2026-12-05T10:00:03Z'),
    }
    const parent = parentOf(snaps)
    assert.equal(parent?.shortId, '1db736af', 'the newest snapshot-sourced one, not the newer live-path one')
    assert.deepEqual(backupInvocation(cfg, snap, parent), {
      args: [
        'backup',
        '--json',
        '--tag',
        'backstop:data',
        '--tag',
        'backstop-snapshot:tank/data@backstop-restic_20261205T100000Z',
        '--time',
        '2026-12-05 10:00:03',
        '--parent',
        parent!.id,
        '--',
        '.',
      ],
      cwd: snap.dir,
      env: { TZ: 'UTC' },
    })
    assert.ok(!backupInvocation(cfg, snap, null).args.includes('--parent'), 'first run: no parent')
  })

  it('reads the source snapshot back from the recorded tags', () => {
    assert.deepEqual(
      snaps.map((s) => sourceSnapshotOf(s)),
      ['tank/data@backstop-restic_20261205T100000Z', null],
    )
    assert.equal(parentOf(snaps.filter((s) => sourceSnapshotOf(s) === null)), null)
  })
})

const SNAP = 'backstop-restic-data_20261205T100000Z'
const ZFS = { kind: 'zfs', dataset: 'tank/data', reuseNewest: false } as const
const now = new Date('2026-12-05T10:00:00Z')

function setup(t: TestContext, fixtures: ExecFixture[]): { exec: FixtureExec; stateDir: string; ctx: Ctx } {
  const stateDir = mkdtempSync(join(tmpdir(), 'bk-rsnap-'))
  t.after(() => rmSync(stateDir, { recursive: true, force: true }))
  const exec = new FixtureExec(fixtures, { ordered: true })
  return { exec, stateDir, ctx: { exec, stateDir, clock: { now: () => now, sleepUntil: async () => {} } } }
}
type Ctx = Parameters<typeof takeSourceSnapshot>[0]

/** `zfs list` as recorded, the mountpoint moved to `mnt`. */
const listed = (mnt: string): ExecFixture => ({
  argv: ['zfs', 'list', '-H', '-o', 'type,mountpoint,mounted', 'tank/data'],
  stdout: fx('zfs/zfs-list-type-mountpoint-mounted.txt').replace('/tmp/bk-rexp-YMDU/mnt/data', mnt),
})
const snapshotted: ExecFixture = { argv: ['zfs', 'snapshot', `tank/data@${SNAP}`] }
/** No clone left by an earlier run (the message zfs prints for a missing dataset), no leftover snapshots. */
const noClone: ExecFixture = {
  argv: ['zfs', 'destroy', 'tank/backstop-restic-data'],
  exitCode: 1,
  stderr: "cannot open 'tank/backstop-restic-data': dataset does not exist\n",
}
const lightList = (stdout: string): ExecFixture => ({
  argv: ['zfs', 'list', '-H', '-t', 'snapshot', '-o', 'name,userrefs', '-r', 'tank/data'],
  stdout,
})
const noLeftovers = [noClone, lightList(fx('zfs/zfs-list-light.txt'))]
const creation: ExecFixture = {
  argv: ['zfs', 'get', '-H', '-p', '-o', 'value', 'creation', `tank/data@${SNAP}`],
  stdout: fx('zfs/zfs-get-p-creation.txt'),
}
const destroyed: ExecFixture = { argv: ['zfs', 'destroy', `tank/data@${SNAP}`] }

describe('restic source snapshot (replayed)', () => {
  it('OpenZFS: reads <mountpoint>/.zfs/snapshot/<name>, no clone; release destroys only that snapshot', async (t) => {
    const mnt = mkdtempSync(join(tmpdir(), 'bk-rsnap-mnt-'))
    t.after(() => rmSync(mnt, { recursive: true, force: true }))
    mkdirSync(join(mnt, '.zfs', 'snapshot', SNAP), { recursive: true })
    const { exec, ctx } = setup(t, [listed(mnt), ...noLeftovers, snapshotted, creation, destroyed])
    const snap = await takeSourceSnapshot(ctx, ZFS, 'data')
    assert.equal(snap.dir, join(mnt, '.zfs', 'snapshot', SNAP))
    assert.equal(snap.fullName, `tank/data@${SNAP}`)
    assert.equal(snap.createdAt.toISOString(), new Date(1796487577 * 1000).toISOString())
    assert.deepEqual(await snap.release(), [])
    exec.assertAllUsed()
  })

  it('zfs-fuse (no .zfs): a read-only clone mounted in the state dir, destroyed before the snapshot', async (t) => {
    const { ctx: base0, stateDir } = setup(t, [])
    const exec = new FixtureExec(
      [
        listed('/nonexistent/mnt/data'),
        ...noLeftovers,
        snapshotted,
        creation,
        {
          argv: [
            'zfs',
            'clone',
            '-o',
            `mountpoint=${join(stateDir, 'zfs-clone')}`,
            '-o',
            'readonly=on',
            `tank/data@${SNAP}`,
            'tank/backstop-restic-data',
          ],
        },
        { argv: ['zfs', 'destroy', 'tank/backstop-restic-data'] },
        destroyed,
      ],
      { ordered: true },
    )
    const ctx = { ...base0, exec }
    const snap = await takeSourceSnapshot(ctx, ZFS, 'data')
    assert.equal(snap.dir, join(stateDir, 'zfs-clone'))
    assert.deepEqual(await snap.release(), [])
    exec.assertAllUsed()
  })

  it('a clone that cannot be destroyed is named with the command that removes it', async (t) => {
    const busy = fx('zfs/zfs-destroy-busy.stderr.txt')
    const clone = { argv: ['zfs', 'destroy', 'tank/backstop-restic-data'], exitCode: 1, stderr: busy, repeat: true }
    const { ctx } = setup(t, [])
    const exec = new FixtureExec([
      listed('/nonexistent/mnt/data'),
      ...noLeftovers,
      snapshotted,
      creation,
      {
        argv: ['zfs', 'clone', '-o', `mountpoint=${join(ctx.stateDir, 'zfs-clone')}`, '-o', 'readonly=on'].concat([
          `tank/data@${SNAP}`,
          'tank/backstop-restic-data',
        ]),
      },
      clone,
      { ...destroyed, exitCode: 1, stderr: fx('zfs/zfs-destroy-dependent-clones.stderr.txt'), repeat: true },
    ])
    const snap = await takeSourceSnapshot({ ...ctx, exec }, ZFS, 'data')
    const before = exec.calls.length
    const left = await snap.release()
    assert.deepEqual(left, [
      'the temporary clone tank/backstop-restic-data (remove it with `zfs destroy tank/backstop-restic-data`)',
      `the temporary snapshot tank/data@${SNAP} (remove it with \`zfs destroy tank/data@${SNAP}\`)`,
    ])
    const tries = exec.calls.slice(before).filter((c) => c[2] === 'tank/backstop-restic-data')
    assert.equal(tries.length, 5, 'busy: five tries')
  })

  it('a failed clone destroys the snapshot it took before throwing', async (t) => {
    const { ctx, stateDir } = setup(t, [])
    const replay = new FixtureExec(
      [
        listed('/nonexistent/mnt/data'),
        ...noLeftovers,
        snapshotted,
        creation,
        {
          argv: ['zfs', 'clone', '-o', `mountpoint=${join(stateDir, 'zfs-clone')}`, '-o', 'readonly=on'].concat([
            `tank/data@${SNAP}`,
            'tank/backstop-restic-data',
          ]),
          exitCode: 1,
          stderr: "cannot create 'tank/backstop-restic-data': out of space\n",
        },
        destroyed,
      ],
      { ordered: true },
    )
    await assert.rejects(takeSourceSnapshot({ ...ctx, exec: replay }, ZFS, 'data'), {
      code: 'BK_ERR_SNAPSHOT_FAILED',
    })
    replay.assertAllUsed()
  })

  it('snapshot: newest — holds the newest existing snapshot, reads it, releases it, never destroys it', async (t) => {
    const reused = 'backstop_20261102T000000Z'
    const mnt = mkdtempSync(join(tmpdir(), 'bk-rsnap-mnt-'))
    t.after(() => rmSync(mnt, { recursive: true, force: true }))
    mkdirSync(join(mnt, '.zfs', 'snapshot', reused), { recursive: true })
    for (const held of [{}, { exitCode: 1, stderr: fx('zfs/zfs-hold-exists.stderr.txt') }]) {
      const { exec, ctx } = setup(t, [
        listed(mnt),
        ...noLeftovers,
        {
          argv: ['zfs', 'get', '-H', '-p', '-d', '1', '-o', 'name,property,value'].concat([
            'guid,createtxg,creation,userrefs,used,referenced',
            'tank/data',
          ]),
          stdout: fx('zfs/zfs-get-Hp-r-snapshots.txt'),
        },
        { argv: ['zfs', 'hold', 'backstop-restic-data', `tank/data@${reused}`], ...held },
        { argv: ['zfs', 'release', 'backstop-restic-data', `tank/data@${reused}`] },
      ])
      const snap = await takeSourceSnapshot(ctx, { ...ZFS, reuseNewest: true }, 'data')
      assert.equal(snap.fullName, `tank/data@${reused}`)
      assert.equal(snap.dir, join(mnt, '.zfs', 'snapshot', reused))
      assert.equal(snap.createdAt.getTime(), 1795313626 * 1000, "the reused snapshot's own creation")
      assert.deepEqual(await snap.release(), [])
      exec.assertAllUsed()
    }
  })

  it("removes only this job's snapshot and clone left by a run that died, before taking a new one", async (t) => {
    const stale = 'backstop-restic-data_20261201T000000Z'
    const listing = [
      `tank/data@${stale}\t0`,
      'tank/data@backstop-restic-other_20261201T000000Z\t0',
      'tank/data@backstop-restic-data.old_20261201T000000Z\t0',
      `tank/data/vm@${stale}\t0`,
      'tank/data@backstop_20261101T000000Z\t1',
      '',
    ].join('\n')
    const mnt = mkdtempSync(join(tmpdir(), 'bk-rsnap-mnt-'))
    t.after(() => rmSync(mnt, { recursive: true, force: true }))
    mkdirSync(join(mnt, '.zfs', 'snapshot', SNAP), { recursive: true })
    const { exec, ctx } = setup(t, [
      listed(mnt),
      { argv: ['zfs', 'destroy', 'tank/backstop-restic-data'] },
      lightList(listing),
      { argv: ['zfs', 'destroy', `tank/data@${stale}`] },
      snapshotted,
      creation,
    ])
    const snap = await takeSourceSnapshot(ctx, ZFS, 'data')
    assert.deepEqual(snap.warnings, [
      `removed tank/data@${stale}, left by an earlier run of this job that did not finish`,
    ])
    exec.assertAllUsed()
  })

  it('a missing dataset is BK_ERR_SNAPSHOT_SOURCE_MISSING with a hint; nothing is snapshotted', async (t) => {
    const { exec, ctx } = setup(t, [
      { ...listed('/x'), exitCode: 1, stdout: '', stderr: fx('zfs/zfs-list-o-missing.stderr.txt') },
    ])
    await assert.rejects(takeSourceSnapshot(ctx, ZFS, 'data'), (e: unknown) => {
      assert.ok(isBackstopError(e))
      assert.equal(e.code, 'BK_ERR_SNAPSHOT_SOURCE_MISSING')
      assert.match(e.message, /dataset does not exist.*check the dataset name/)
      return true
    })
    exec.assertAllUsed()
  })

  it('btrfs: a read-only snapshot in snapshotDir, its recorded creation time, deleted on release', async (t) => {
    const { exec, ctx, stateDir } = setup(t, [])
    void exec
    const dir = join(stateDir, 'snaps')
    const path = join(dir, `data@${SNAP}`)
    const replay = new FixtureExec(
      [
        { argv: ['btrfs', 'subvolume', 'snapshot', '-r', '/srv/data', path] },
        { argv: ['btrfs', 'subvolume', 'show', path], stdout: fx('btrfs/subvolume-show-source-snapshot.txt') },
        { argv: ['btrfs', 'subvolume', 'delete', '--commit-after', path] },
      ],
      { ordered: true },
    )
    const snap = await takeSourceSnapshot(
      { ...ctx, exec: replay },
      { kind: 'btrfs', subvolume: '/srv/data', snapshotDir: dir },
      'data',
    )
    assert.equal(snap.dir, path)
    assert.equal(snap.createdAt.toISOString(), '2026-11-22T01:53:43.000Z')
    assert.deepEqual(await snap.release(), [])
    replay.assertAllUsed()
  })

  it('btrfs: a plain directory is not a subvolume — BK_ERR_SNAPSHOT_SOURCE_MISSING says what it must be', async (t) => {
    const { ctx, stateDir } = setup(t, [])
    const dir = join(stateDir, 'snaps')
    const replay = new FixtureExec([
      {
        argv: ['btrfs', 'subvolume', 'snapshot', '-r', '/srv/data', join(dir, `data@${SNAP}`)],
        exitCode: 1,
        stderr: fx('btrfs/subvolume-snapshot-not-subvolume.stderr.txt'),
      },
    ])
    await assert.rejects(
      takeSourceSnapshot({ ...ctx, exec: replay }, { kind: 'btrfs', subvolume: '/srv/data', snapshotDir: dir }, 'data'),
      (e: unknown) => {
        assert.ok(isBackstopError(e))
        assert.equal(e.code, 'BK_ERR_SNAPSHOT_SOURCE_MISSING')
        assert.match(e.message, /Not a Btrfs subvolume.*\/srv\/data must be a btrfs subvolume/)
        return true
      },
    )
  })
})
