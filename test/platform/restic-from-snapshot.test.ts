import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { isBackstopError } from '@backstop/shared'
import type { JobResult } from '../../agent/src/jobs/job.ts'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import { resolveResticJob, type ResticJobInput } from '../../agent/src/jobs/restic/config.ts'
import { createResticJob } from '../../agent/src/jobs/restic/restic-job.ts'
import { btrfsReady, createTestBtrfs } from '../support/btrfs.ts'
import { requirePlatform } from '../support/platform.ts'
import { tempDir } from '../support/processes.ts'
import { resticCli, resticReady, startResticServer, type TestResticServer } from '../support/restic-server.ts'
import { createTestPool, must, snapshotNames, userrefs, zfsFuseReady } from '../support/zfs.ts'
import { jobContext, silentLog, TestClock, TriggerExec } from '../support/zfs-btrfs-context.ts'

/**
 * A restic job whose source is a ZFS dataset (zfs-fuse: no .zfs directory, so a temporary clone) or a btrfs
 * subvolume: each run backs up a read-only snapshot it takes, at the same paths every run, with the previous run as
 * parent, and removes the snapshot (and clone) afterwards — also when the backup fails.
 */
const node = new NodeExec({ log: silentLog, killGraceMs: 500 })

interface Scenario {
  readonly server: TestResticServer
  readonly home: string
  /** The live directory of the dataset / subvolume. */
  readonly live: string
  readonly input: ResticJobInput
  /** The command that creates the snapshot (a file written right after it must not be in the backup). */
  readonly isSnapshotCall: (argv: readonly string[]) => boolean
  /** Snapshots / clones the job may have left behind (must be none). */
  readonly leftovers: () => string[]
  /** Plants what a run killed before its cleanup leaves (this job's) and another job's snapshot; returns its name. */
  readonly plantDeadRun: () => string
  /** Whether the other job's snapshot is still there. */
  readonly foreignKept: () => boolean
}

interface ResticSnap {
  id: string
  short_id: string
  time: string
  paths: string[]
  tags: string[]
  parent?: string
}

function snapshotsOf(s: Pick<Scenario, 'server' | 'home'>): ResticSnap[] {
  return JSON.parse(resticCli(s.server, ['snapshots', '--json'], s.home)) as ResticSnap[]
}

function filesOf(s: Pick<Scenario, 'server' | 'home'>, id: string): string[] {
  const out = resticCli(s.server, ['ls', '--json', id], s.home)
  return out
    .split('\n')
    .filter((l) => l.includes('"struct_type":"node"'))
    .map((l) => (JSON.parse(l) as { path: string }).path)
    .sort()
}

async function runWithLateWrite(t: TestContext, s: Scenario, clock: TestClock, late: string): Promise<JobResult> {
  const exec = new TriggerExec(node, s.isSnapshotCall, () => writeFileSync(join(s.live, late), 'written later\n'))
  const job = createResticJob(resolveResticJob(s.input, 'UTC'))
  return job.run(jobContext(t, clock, exec))
}

async function provesConsistentBackups(t: TestContext, s: Scenario): Promise<void> {
  const clock = new TestClock(new Date('2026-12-05T10:00:00Z'))
  mkdirSync(join(s.live, 'sub'))
  writeFileSync(join(s.live, 'a.txt'), 'first\n')
  writeFileSync(join(s.live, 'sub', 'b.bin'), Buffer.alloc(300_000, 7))

  const dead = s.plantDeadRun()
  const first = await runWithLateWrite(t, s, clock, 'late1.txt')
  assert.equal(first.status, 'success', JSON.stringify(first.error))
  assert.ok(
    first.warnings.some((w) => w.startsWith(`removed ${dead}, left by an earlier run`)),
    first.warnings.join(),
  )
  assert.ok(s.foreignKept(), "another job's snapshot is never touched")
  const [r1] = snapshotsOf(s)
  assert.ok(r1)
  // The snapshot's files at the same paths every run, never under a per-run snapshot directory.
  assert.deepEqual(filesOf(s, r1.id), ['/a.txt', '/sub', '/sub/b.bin'])
  assert.deepEqual(s.leftovers(), [], 'the temporary snapshot is destroyed after the run')
  const copy = first.copies.find((c) => c.runId !== undefined)
  assert.ok(copy, 'the run reports its new restic snapshot as a copy')
  const from = r1.tags.find((x) => x.startsWith('backstop-snapshot:'))!.slice('backstop-snapshot:'.length)
  assert.match(copy.name, new RegExp(`^${r1.short_id} from .*@backstop-restic-${s.input.name}_20261205T100000Z$`))
  assert.ok(copy.name.endsWith(from))
  assert.equal(copy.asset.id, s.input.source!.zfs ?? s.input.source!.btrfs)
  assert.equal(new Date(copy.createdAt).getTime(), new Date(r1.time).getTime())
  assert.ok(Math.abs(new Date(copy.createdAt).getTime() - Date.now()) < 5 * 60_000, 'createdAt: the snapshot time')

  writeFileSync(join(s.live, 'a.txt'), 'second\n')
  clock.advance(3_600_000)
  const second = await runWithLateWrite(t, s, clock, 'late2.txt')
  assert.equal(second.status, 'success', JSON.stringify(second.error))
  const r2 = snapshotsOf(s).find((x) => x.id !== r1.id)
  assert.ok(r2)
  assert.equal(r2.parent, r1.id, 'the second run uses the first as parent')
  assert.notDeepEqual(r2.paths, [], 'restic records the directory it read')
  // late1.txt was written after the first snapshot and before the second: only the second has it.
  assert.deepEqual(filesOf(s, r2.id), ['/a.txt', '/late1.txt', '/sub', '/sub/b.bin'])
  assert.deepEqual(s.leftovers(), [])
  const restored = resticCli(s.server, ['dump', r2.id, '/a.txt'], s.home)
  assert.equal(restored, 'second\n')

  // A backup that fails after the snapshot was taken (the password changes under it) still removes it.
  const password = readFileSync(s.server.passwordFile)
  const broken = new TriggerExec(node, s.isSnapshotCall, () => writeFileSync(s.server.passwordFile, 'wrong\n'))
  clock.advance(3_600_000)
  try {
    await createResticJob(resolveResticJob(s.input, 'UTC')).run(jobContext(t, clock, broken))
    assert.fail('the run must fail')
  } catch (e) {
    assert.ok(isBackstopError(e), String(e))
    assert.equal(e.code, 'BK_ERR_REPO_PASSWORD')
  } finally {
    writeFileSync(s.server.passwordFile, password)
  }
  assert.ok(
    broken.calls.some((c) => s.isSnapshotCall(c)),
    'the snapshot was taken before the failure',
  )
  assert.deepEqual(s.leftovers(), [], 'a failed backup still removes the temporary snapshot')
  assert.equal(snapshotsOf(s).length, 2)
}

async function repository(t: TestContext): Promise<{ server: TestResticServer; home: string; base: ResticJobInput }> {
  const server = await startResticServer(t, { appendOnly: false })
  const home = tempDir(t, 'bk-restic-home-')
  resticCli(server, ['init'], home)
  const base: ResticJobInput = {
    kind: 'restic',
    name: `fromsnap${Math.random().toString(36).slice(2, 8)}`,
    repository: { url: server.url },
    password: { file: server.passwordFile },
    checkGroups: 0,
  }
  return { server, home, base }
}

describe('restic from a snapshot', () => {
  it('ZFS dataset (zfs-fuse: temporary clone): consistent, stable paths, parent, cleaned up', async (t) => {
    if (!requirePlatform(t, { commands: ['restic', 'rclone', 'zfs'], checks: [resticReady, zfsFuseReady] })) {
      return
    }
    const { server, home, base } = await repository(t)
    const p = createTestPool(t, 'rsnap')
    const ds = `${p.pool}/data`
    must(['zfs', 'create', ds])
    const live = must(['zfs', 'get', '-H', '-o', 'value', 'mountpoint', ds]).trim()
    await provesConsistentBackups(t, {
      server,
      home,
      live,
      input: { ...base, source: { zfs: ds } },
      isSnapshotCall: (a) => a[0] === 'zfs' && a[1] === 'snapshot',
      leftovers: () => [
        ...snapshotNames(ds).filter((n) => n.startsWith(`backstop-restic-${base.name}_`)),
        ...must(['zfs', 'list', '-H', '-o', 'name', '-r', p.pool])
          .split('\n')
          .filter((n) => n.includes(`backstop-restic-${base.name}`)),
      ],
      plantDeadRun: () => {
        const stale = `${ds}@backstop-restic-${base.name}_20200101T000000Z`
        must(['zfs', 'snapshot', stale])
        must(['zfs', 'clone', stale, `${p.pool}/backstop-restic-${base.name}`])
        must(['zfs', 'snapshot', `${ds}@backstop-restic-other_20200101T000000Z`])
        return stale
      },
      foreignKept: () => snapshotNames(ds).includes('backstop-restic-other_20200101T000000Z'),
    })
  })

  it('ZFS snapshot: newest — reads the newest existing snapshot, releases its hold, never destroys it', async (t) => {
    if (!requirePlatform(t, { commands: ['restic', 'rclone', 'zfs'], checks: [resticReady, zfsFuseReady] })) {
      return
    }
    const { server, home, base } = await repository(t)
    const p = createTestPool(t, 'rnew')
    const ds = `${p.pool}/data`
    must(['zfs', 'create', ds])
    const live = must(['zfs', 'get', '-H', '-o', 'value', 'mountpoint', ds]).trim()
    writeFileSync(join(live, 'a.txt'), 'in the snapshot\n')
    must(['zfs', 'snapshot', `${ds}@nightly`])
    writeFileSync(join(live, 'after.txt'), 'written after the snapshot\n')
    const job = createResticJob(resolveResticJob({ ...base, source: { zfs: ds, snapshot: 'newest' } }, 'UTC'))
    const r = await job.run(jobContext(t, new TestClock(new Date()), node))
    assert.equal(r.status, 'success', JSON.stringify(r.error))
    const s = { server, home }
    const [snap] = snapshotsOf(s)
    assert.ok(snap)
    assert.deepEqual(filesOf(s, snap.id), ['/a.txt'])
    assert.match(r.copies[0]!.name, new RegExp(`^${snap.short_id} from ${ds}@nightly$`))
    assert.deepEqual(snapshotNames(ds), ['nightly'], 'the reused snapshot stays; nothing else is left')
    assert.equal(userrefs(`${ds}@nightly`), 0, 'its hold is released')
    assert.ok(!must(['zfs', 'list', '-H', '-o', 'name', '-r', p.pool]).includes('backstop-restic'), 'no clone left')
  })

  it('btrfs subvolume: consistent, stable paths, parent, cleaned up', async (t) => {
    if (!requirePlatform(t, { commands: ['restic', 'rclone'], checks: [resticReady, btrfsReady] })) {
      return
    }
    const { server, home, base } = await repository(t)
    const fs = createTestBtrfs(t, 'rsnap')
    const live = join(fs.mnt, 'data')
    must(['btrfs', 'subvolume', 'create', live])
    const snapshotDir = join(fs.mnt, 'snaps')
    await provesConsistentBackups(t, {
      server,
      home,
      live,
      input: { ...base, source: { btrfs: live, snapshotDir } },
      isSnapshotCall: (a) => a[0] === 'btrfs' && a[1] === 'subvolume' && a[2] === 'snapshot',
      leftovers: () =>
        must(['btrfs', 'subvolume', 'list', '-o', fs.mnt])
          .split('\n')
          .filter((l) => l.includes(`backstop-restic-${base.name}_`)),
      plantDeadRun: () => {
        mkdirSync(snapshotDir)
        const stale = join(snapshotDir, `data@backstop-restic-${base.name}_20200101T000000Z`)
        must(['btrfs', 'subvolume', 'snapshot', '-r', live, stale])
        must([
          'btrfs',
          'subvolume',
          'snapshot',
          '-r',
          live,
          join(snapshotDir, 'data@backstop-restic-other_20200101T000000Z'),
        ])
        return stale
      },
      foreignKept: () =>
        must(['btrfs', 'subvolume', 'list', '-o', fs.mnt]).includes('data@backstop-restic-other_20200101T000000Z'),
    })
  })
})
