import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { nextRunAfter } from '@backstop/shared'
import { requirePlatform } from '../support/platform.ts'
import { waitFor } from '../support/wait-for.ts'
import { zfsFuseReady } from '../support/zfs.ts'
import { fleet } from './support/fleet.ts'

/**
 * Missed-backup on real processes: the agent daemon runs its schedule against zfs-fuse, the collector judges the
 * expectations. Short schedules (seconds), the shortest grace the collector accepts (60 s).
 */
const needs = { root: true, commands: ['zpool', 'zfs'], checks: [zfsFuseReady] }
const keep = { keep: { last: 3, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 } }
const GRACE_S = 60

describe('scenarios: missed backups, truthfully', { timeout: 180_000 }, () => {
  it('a ZFS dataset snapshotted daily never pages missed-backup', async (t) => {
    if (!requirePlatform(t, needs)) {
      return
    }
    const f = await fleet(t, { ledger: { defaultPeriodS: 60, defaultGraceS: GRACE_S } })
    const pve1 = f.node('pve1')
    const vm = pve1.zfsPool('tank').dataset('vm-100-disk-0')
    // "Daily" compressed to every 3 s. A snapshot's time comes from its name (whole seconds); the run's start has
    // milliseconds: the snapshot made by a run is always a little "older" than the run that made it.
    pve1.job({
      kind: 'zfs',
      name: 'daily',
      schedule: '*/3 * * * * *',
      catchUp: false,
      datasets: [vm],
      retention: keep,
      media: 'hdd',
    })
    await pve1.start()
    const runs = await waitFor(
      async () => {
        const done = (await f.collector.runs('pve1', 'daily')).filter((r) => r.status === 'success')
        return done.length >= 2 ? done : undefined
      },
      { what: 'two scheduled runs of daily recorded as success', timeoutMs: 60_000 },
    )
    assert.ok(
      runs.some((r) => Date.parse(r.startedAt) % 1000 !== 0),
      'a run started at a fraction of a second: the case the bug needs',
    )
    const exp = await waitFor(
      async () =>
        (await f.collector.expectations('pve1')).find(
          (e) => e.job === 'daily' && e.assetId === vm && e.lastFinishAt !== null,
        ),
      { what: 'the expectation of daily met by a finished run', timeoutMs: 20_000 },
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(await f.collector.expectations('pve1'))}`)
    })
    assert.equal(exp.status, 'up', 'a run that made a snapshot meets its expectation')
    assert.ok(
      Date.parse(exp.alertAfter ?? '') >= Date.parse(exp.lastFinishAt!) + GRACE_S * 1000,
      `the next deadline counts from the last run: ${JSON.stringify(exp)}`,
    )
    const missed = (await f.collector.alerts('pve1')).filter((a) => a.kind === 'missed-backup')
    assert.deepEqual(missed, [], 'no missed-backup, firing or resolved')
  })

  it('a job that never ran goes missed on time', async (t) => {
    if (!requirePlatform(t, needs)) {
      return
    }
    const f = await fleet(t, { ledger: { defaultPeriodS: 3600, defaultGraceS: GRACE_S } })
    const pve1 = f.node('pve1')
    const vm = pve1.zfsPool('tank').dataset('vm-200-disk-0')
    const schedule = '0 3 * * *'
    pve1.job({ kind: 'zfs', name: 'nightly', schedule, catchUp: false, datasets: [vm], retention: keep, media: 'hdd' })
    const startedAt = new Date()
    await pve1.start()
    // Nothing has run, and nothing will before 03:00: the collector knows the job from the agent's declaration.
    const exp = await waitFor(
      async () => (await f.collector.expectations('pve1')).find((e) => e.job === 'nightly' && e.assetId === vm),
      { what: 'an expectation for the declared job nightly before its first run', timeoutMs: 20_000 },
    )
    assert.deepEqual(await f.collector.runs('pve1', 'nightly'), [], 'the job never ran')
    assert.equal(exp.status, 'new')
    assert.equal(exp.graceS, GRACE_S)
    const slot = nextRunAfter({ cron: schedule, timezone: 'UTC' }, startedAt)!
    assert.equal(
      exp.alertAfter,
      new Date(slot.getTime() + GRACE_S * 1000).toISOString(),
      'missed-backup is due at the first 03:00 slot plus grace, not a day later and not never',
    )
    assert.deepEqual(
      (await f.collector.alerts('pve1')).filter((a) => a.kind === 'missed-backup'),
      [],
      'and not before',
    )
  })
})
