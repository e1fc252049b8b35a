import assert from 'node:assert/strict'
import { hostname } from 'node:os'
import { describe, it } from 'node:test'
import { nextRunAfter } from '@backstop/shared'
import { requirePlatform } from '../support/platform.ts'
import { waitFor } from '../support/wait-for.ts'
import { zfsFuseReady } from '../support/zfs.ts'
import { jumpingClock } from '../support/jumping-clock.ts'
import { fleet } from './support/fleet.ts'

/**
 * Missed-backup on real processes: the agent daemon runs its schedule against zfs-fuse, the collector judges the
 * expectations. Short schedules (seconds), the shortest grace the collector accepts (60 s).
 */
const needs = { root: true, commands: ['zpool', 'zfs'], checks: [zfsFuseReady] }
const keep = { keep: { last: 3, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 } }
const GRACE_S = 60
/** The daemon's inventory tells the collector what this host has: a node without a bare-metal image job. */
const noImage = `firing warning coverage-gap/pve1/host-image/host/${hostname().split('.')[0]}`

describe('scenarios: missed backups, truthfully', { timeout: 180_000 }, () => {
  it('a ZFS dataset snapshotted daily never pages missed-backup', async (t) => {
    if (!requirePlatform(t, needs)) {
      return
    }
    const f = await fleet(t, { ledger: { defaultPeriodS: 60, defaultGraceS: GRACE_S } })
    const pve1 = f.node('pve1')
    const tank = pve1.zfsPool('tank')
    const vm = tank.dataset('vm-100-disk-0')
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
    // Met means `up` after a finished run. Polled, not read once: the next 3-s slot may already have come when the
    // collector is read (`grace`, truthfully: that run has not reported yet). Before the fix it was never `up`.
    const exp = await waitFor(
      async () =>
        (await f.collector.expectations('pve1')).find(
          (e) => e.job === 'daily' && e.assetId === vm && e.lastFinishAt !== null && e.status === 'up',
        ),
      { what: 'the expectation of daily met (up) by a finished run', timeoutMs: 20_000 },
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(await f.collector.expectations('pve1'))}`)
    })
    assert.ok(
      Date.parse(exp.alertAfter ?? '') >= Date.parse(exp.lastFinishAt!) + GRACE_S * 1000,
      `the next deadline counts from the last run: ${JSON.stringify(exp)}`,
    )
    // No missed-backup, firing or resolved: what the user is told is what is true — the snapshots are versions on
    // the production pool (non-compliant), the pool's root dataset is in no job, the node has no bare-metal image.
    await f.alertsAre(
      [
        noImage,
        `firing warning coverage-gap/pve1/zfs-dataset/${tank.pool}`,
        `firing warning non-compliant/pve1/zfs-dataset/${vm}`,
      ],
      'runs every 3 s, each with its snapshot',
    )
  })

  it('a job that never ran: missed-backup at its first slot plus grace, not before', async (t) => {
    if (!requirePlatform(t, needs)) {
      return
    }
    // The collector's clock jumps half a day to the job's slot; the agent (real clock) never gets there. Liveness
    // is judged over a day so the jump is not taken for a silent node: node-down is not what this is about.
    const clock = jumpingClock()
    const ledger = { defaultPeriodS: 3600, defaultGraceS: GRACE_S, nodeTimeoutS: 86_400 }
    const f = await fleet(t, { ledger, clock })
    const pve1 = f.node('pve1')
    const tank = pve1.zfsPool('tank')
    const vm = tank.dataset('vm-200-disk-0')
    // Daily, at an hour half a day from now: it cannot come round while the scenario runs.
    const schedule = `0 ${(new Date().getUTCHours() + 12) % 24} * * *`
    pve1.job({ kind: 'zfs', name: 'nightly', schedule, catchUp: false, datasets: [vm], retention: keep, media: 'hdd' })
    const startedAt = new Date(clock.now())
    await pve1.start()
    // Nothing has run, and nothing will before the slot: the collector knows the job from the agent's declaration.
    const exp = await waitFor(
      async () => (await f.collector.expectations('pve1')).find((e) => e.job === 'nightly' && e.assetId === vm),
      { what: 'an expectation for the declared job nightly before its first run', timeoutMs: 20_000 },
    )
    assert.deepEqual(await f.collector.runs('pve1', 'nightly'), [], 'the job never ran')
    assert.equal(exp.status, 'new')
    assert.equal(exp.graceS, GRACE_S)
    const slot = nextRunAfter({ cron: schedule, timezone: 'UTC' }, startedAt)!.getTime()
    const due = slot + GRACE_S * 1000
    assert.equal(exp.alertAfter, new Date(due).toISOString(), 'due at the first slot plus grace, not a day later')
    const status = async (): Promise<string | undefined> =>
      (await f.collector.expectations('pve1')).find((e) => e.job === 'nightly')?.status
    // What the daemon's inventory and declaration say at once: the pool's root dataset is in no job, the node has
    // no bare-metal image, and the declared dataset has no copy at all. Nothing about the job being late.
    const known = [
      noImage,
      `firing warning coverage-gap/pve1/zfs-dataset/${tank.pool}`,
      `firing warning non-compliant/pve1/zfs-dataset/${vm}`,
    ]
    const quiet = await f.alertsAre(known, 'the job declared, nothing due yet')

    // The slot passes without a run: late, within its grace, no page yet.
    clock.jumpTo(due - 1000)
    assert.equal(await status(), 'grace')
    assert.deepEqual(await f.alerts(), quiet, 'no missed-backup before slot + grace')

    // Grace is over: the expectation goes down, dated at its deadline, and the user is paged once.
    clock.jumpTo(due)
    const missed = `firing warning missed-backup/pve1/nightly/zfs-dataset/${vm}`
    const alerts = await f.alertsAre([...known, missed], 'slot + grace passed, no run')
    const page = alerts.find((a) => a.kind === 'missed-backup')!
    assert.equal(page.since, new Date(due).toISOString(), 'on time: at the deadline, not when someone looked')
    assert.equal(
      page.summary,
      `zfs-dataset ${vm} on pve1, job nightly: no backup since the deadline ${new Date(due).toISOString()}`,
    )
    assert.equal(await status(), 'down')
    assert.deepEqual(await f.collector.runs('pve1', 'nightly'), [], 'and still no run: the page is about that')
  })
})
