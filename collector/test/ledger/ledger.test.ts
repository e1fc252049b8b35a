import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { alertTopics, type DiskHealthBody } from '@backstop/shared'
import { backupPoolStorage, H, harness, probedStorage, T0, tankSource } from './harness.ts'

const M = 60_000

describe('ledger: verdicts from ingested copies', () => {
  it('evaluates each asset after a run and stores the verdict with reasons', () => {
    const h = harness()
    h.start()
    // Issue 11: the NAS copy is offsite and immutable because the agent probed it (site "office", a pull replica
    // the node cannot log in to), no longer because the config typed `offsite: true, immutable: true`.
    const nas = probedStorage({
      host: 'nas2',
      site: 'office',
      devices: [{ id: 'serial:NAS-A', transport: 'sata' }],
      media: 'nas',
      immutability: { kind: 'pull-replica', probedAt: new Date(T0).toISOString() },
    })
    h.run(
      'snap',
      T0,
      60_000,
      [
        h.copy('c1', 'tank/data', T0, { storage: backupPoolStorage }),
        h.copy('c2', 'tank/data', T0, {
          location: { kind: 'nas', target: 'nas2:/backup' },
          media: 'nas',
          offsite: true,
          immutable: true,
          storage: nas,
        }),
      ],
      'success',
      undefined,
      [{ asset: { kind: 'zfs-dataset', id: 'tank/data' }, storage: tankSource }],
    )
    h.ledger.runNow()
    const a = h.repos.assets.get({ node: 'pve1', kind: 'zfs-dataset', id: 'tank/data' })!
    assert.equal(a.verdict, 'compliant', JSON.stringify(a.reasons))
    assert.equal(a.counts.copies, 3)
    assert.equal(a.expiresAt, T0 + 26 * H + 1)
    assert.equal(h.alert('non-compliant/pve1/zfs-dataset/tank/data'), undefined, 'a compliant asset never had an alert')
    // Time alone makes it stale: the single timer re-evaluates at expiresAt.
    h.clock.set(T0 + 26 * H + 1)
    const stale = h.repos.assets.get({ node: 'pve1', kind: 'zfs-dataset', id: 'tank/data' })!
    assert.equal(stale.verdict, 'non-compliant')
    assert.deepEqual(
      stale.reasons.map((r) => r.code),
      ['stale'],
    )
    assert.equal(h.alert('non-compliant/pve1/zfs-dataset/tank/data')?.state, 'firing')
    h.stop()
  })
})

describe('ledger: missed backups', () => {
  it('raises missed-backup at the true deadline through one timer, and resolves on the next run', () => {
    const h = harness()
    h.start()
    h.run('snap', T0, 60_000, [h.copy('c1', 'tank/data', T0 + 1000)])
    h.ledger.runNow()
    const e = h.repos.expectations.get({
      node: 'pve1',
      job: 'snap',
      assetKind: 'zfs-dataset',
      assetId: 'tank/data',
    })!
    assert.equal(e.state.status, 'up')
    const deadline = T0 + 60_000 + 24 * H + H
    assert.equal(e.alertAfter, deadline)
    assert.ok(
      h.clock.pending().includes(deadline),
      `one timer armed for the earliest deadline: ${h.clock.pending().map((t) => new Date(t).toISOString())}`,
    )

    h.clock.set(deadline - 1)
    assert.equal(h.alert('missed-backup/pve1/snap/zfs-dataset/tank/data'), undefined)
    h.clock.set(deadline + 5 * M)
    const a = h.alert('missed-backup/pve1/snap/zfs-dataset/tank/data')!
    assert.equal(a.state, 'firing')
    assert.equal(a.since, deadline, 'dated at the deadline')
    const flips = h.repos.alerts.flips(a.key, 10)
    assert.equal(flips[0]!.at, deadline)
    assert.equal(flips[0]!.decision, 'notify')
    // Published: retained state + event.
    const state = h.published.find((p) => p.topic === alertTopics.state(a.key))!
    assert.equal(state.retain, true)
    assert.equal(state.payload.state, 'firing')
    assert.ok(
      h.published.some(
        (p) => p.topic === alertTopics.events && p.payload.key === a.key && p.payload.to === 'firing' && !p.retain,
      ),
    )

    h.run('snap', deadline + 10 * M, 60_000, [h.copy('c2', 'tank/data', deadline + 10 * M + 1000)])
    h.ledger.runNow()
    assert.equal(h.alert(a.key)!.state, 'resolved')
    h.stop()
  })

  it('a failed run raises run-failed; a run far faster and smaller than usual raises run-anomaly', () => {
    const h = harness()
    h.start()
    for (let i = 0; i < 6; i++) {
      h.run('send', T0 + i * 24 * H, 600_000, [h.copy(`c${i}`, 'tank/data', T0 + i * 24 * H + 1)], 'success', 1e9)
    }
    h.run('send', T0 + 6 * 24 * H, 5_000, [h.copy('c6', 'tank/data', T0 + 6 * 24 * H + 1)], 'success', 1e6)
    h.clock.set(T0 + 6 * 24 * H + 10_000)
    h.ledger.runNow()
    const anomaly = h.alert('run-anomaly/pve1/send')!
    assert.equal(anomaly.state, 'firing')
    assert.match(anomaly.summary, /finished in 5\.0s, usually 600s/)
    assert.match(anomaly.summary, /wrote 1000000 bytes/)
    h.run('send', T0 + 7 * 24 * H, 1000, [], 'failed')
    h.ledger.runNow()
    assert.equal(h.alert('run-failed/pve1/send')!.state, 'firing')
    assert.equal(
      h.repos.expectations.get({ node: 'pve1', job: 'send', assetKind: 'zfs-dataset', assetId: 'tank/data' })!.state
        .status,
      'down',
    )
    h.stop()
  })

  it('a run still going past its grace goes down as an overrun', () => {
    const h = harness()
    h.start()
    h.run('snap', T0, 60_000, [h.copy('c1', 'tank/data', T0 + 1)])
    h.ledger.runNow()
    h.db.transaction(() =>
      h.core.runs.started(
        'pve1',
        {
          runId: 'long',
          job: 'snap',
          jobKind: 'zfs-snapshot',
          startedAt: new Date(T0 + 2 * H).toISOString(),
          trigger: 'schedule',
        },
        '',
      ),
    )()
    h.ledger.runNow()
    h.clock.set(T0 + 3 * H + M)
    const a = h.alert('missed-backup/pve1/snap/zfs-dataset/tank/data')!
    assert.equal(a.state, 'firing')
    assert.equal(a.since, T0 + 3 * H)
    assert.match(a.summary, /still going past its grace/)
    h.stop()
  })
})

describe('ledger: inventory and node liveness', () => {
  it('flags coverage gaps and expects a first backup for covered assets', () => {
    const h = harness()
    h.start()
    h.db.transaction(() =>
      h.core.assets.replaceInventory('pve1', {
        at: new Date(T0).toISOString(),
        assets: [
          { asset: { kind: 'vm', id: 'vm/101' }, coveredBy: [] },
          { asset: { kind: 'vm', id: 'vm/102' }, coveredBy: ['vzdump-nightly'] },
        ],
      }),
    )()
    h.ledger.runNow()
    assert.equal(h.alert('coverage-gap/pve1/vm/vm/101')!.state, 'firing')
    assert.equal(h.alert('coverage-gap/pve1/vm/vm/102'), undefined)
    const e = h.repos.expectations.get({
      node: 'pve1',
      job: 'vzdump-nightly',
      assetKind: 'vm',
      assetId: 'vm/102',
    })!
    assert.equal(e.state.status, 'new')
    assert.equal(e.alertAfter, T0 + 25 * H, 'a job that never runs is caught too')
    assert.equal(h.repos.assets.get({ node: 'pve1', kind: 'vm', id: 'vm/102' })!.verdict, 'non-compliant')
    h.stop()
  })

  it('folds missed-backup alerts under one node-down alert and releases them after the catch-up grace', () => {
    const h = harness()
    h.start()
    h.run('snap', T0, 60_000, [h.copy('c1', 'tank/a', T0 + 1), h.copy('c2', 'tank/b', T0 + 1)])
    const status = (state: 'online' | 'offline', at: number, reason?: 'lost' | 'shutdown'): void => {
      h.db.transaction(() =>
        h.core.nodes.setStatus('pve1', state, new Date(at).toISOString(), new Date(at).toISOString(), reason),
      )()
      h.clock.set(at)
      h.ledger.runNow()
    }
    status('offline', T0 + H, 'lost')
    assert.equal(h.alert('node-down/pve1'), undefined, 'the last will waits nodeDownAfterS (600 s)')
    h.clock.set(T0 + H + 10 * M)
    const down = h.alert('node-down/pve1')!
    assert.deepEqual([down.state, down.severity, down.since], ['firing', 'critical', T0 + H + 10 * M])
    assert.match(down.summary, /connection lost: last will/)
    h.clock.set(T0 + 26 * H)
    const missed = ['tank/a', 'tank/b'].map((id) => h.alert(`missed-backup/pve1/snap/zfs-dataset/${id}`)!)
    for (const m of missed) {
      assert.equal(m.state, 'firing')
      assert.equal(m.suppressedBy, 'node-down/pve1')
      assert.equal(h.repos.alerts.flips(m.key, 1)[0]!.decision, 'suppressed')
    }
    assert.equal(h.repos.notify.nextDue(), null, 'no channel configured, and suppressed flips never queue')
    status('online', T0 + 27 * H)
    assert.equal(h.alert('node-down/pve1')!.state, 'resolved')
    for (const m of missed) {
      // Still folded while the catch-up runs get their grace, under what folds them now (node-down has resolved).
      assert.equal(h.alert(m.key)!.suppressedBy, 'catch-up/pve1')
    }
    // The catch-up run covers tank/a only: its alert resolves quietly (it never paged), tank/b still waits.
    h.run('snap', T0 + 27 * H + M, 60_000, [h.copy('c3', 'tank/a', T0 + 27 * H + M + 1)])
    h.clock.set(T0 + 27 * H + 2 * M)
    h.ledger.runNow()
    const a = h.alert(missed[0]!.key)!
    assert.equal(a.state, 'resolved')
    assert.deepEqual(
      h.repos.alerts.flips(a.key, 5).map((f) => [f.to, f.decision]),
      [
        ['resolved', 'suppressed'],
        ['firing', 'suppressed'],
      ],
      'no "missed-backup firing" then "resolved" moments apart on return',
    )
    h.clock.set(T0 + 28 * H)
    const b = h.alert(missed[1]!.key)!
    assert.equal(b.state, 'firing')
    assert.equal(b.suppressedBy, null)
    assert.equal(
      h.repos.alerts.flips(b.key, 1)[0]!.decision,
      'notify',
      'what still holds after the catch-up grace speaks for itself',
    )
    assert.equal(h.repos.alerts.flips(b.key, 1)[0]!.at, T0 + 28 * H, 'released at the end of the grace (1 h)')
    h.stop()
  })

  it('a folded alert names what folds it: node-away before node-down fires, catch-up after the return', () => {
    const h = harness()
    h.start()
    h.run('snap', T0, 60_000, [h.copy('c1', 'tank/a', T0 + 1)])
    const status = (state: 'online' | 'offline', at: number): void => {
      h.db.transaction(() =>
        h.core.nodes.setStatus('pve1', state, new Date(at).toISOString(), new Date(at).toISOString(), 'shutdown'),
      )()
      h.clock.set(at)
      h.ledger.runNow()
    }
    // An upgrade stops the agent 5 minutes before its backup is due; the deadline passes while it is away.
    status('offline', T0 + 26 * H - 5 * M)
    h.clock.set(T0 + 26 * H)
    const key = 'missed-backup/pve1/snap/zfs-dataset/tank/a'
    assert.equal(h.alert('node-down/pve1'), undefined, 'node-down waits nodeDownAfterS (600 s)')
    assert.deepEqual([h.alert(key)!.state, h.alert(key)!.suppressedBy], ['firing', 'node-away/pve1'])
    status('online', T0 + 26 * H + M)
    assert.equal(h.alert('node-down/pve1'), undefined)
    assert.equal(h.alert(key)!.suppressedBy, 'catch-up/pve1', 'never an alert that does not exist')
    h.stop()
  })

  it('a graceful stop back within nodeDownAfterS raises nothing; one that stays away is down with warning', () => {
    const h = harness()
    h.start()
    h.run('snap', T0, 60_000, [h.copy('c1', 'tank/a', T0 + 1)])
    const status = (state: 'online' | 'offline', at: number): void => {
      h.db.transaction(() =>
        h.core.nodes.setStatus(
          'pve1',
          state,
          new Date(at).toISOString(),
          '',
          state === 'offline' ? 'shutdown' : undefined,
        ),
      )()
      h.clock.set(at)
      h.ledger.runNow()
    }
    status('offline', T0 + H)
    h.clock.set(T0 + H + 9 * M)
    status('online', T0 + H + 9 * M)
    h.clock.set(T0 + 3 * H)
    assert.equal(h.alert('node-down/pve1'), undefined, 'a reboot that came back in 9 min never fired')
    status('offline', T0 + 4 * H)
    h.clock.set(T0 + 4 * H + 10 * M)
    const down = h.alert('node-down/pve1')!
    assert.deepEqual([down.state, down.severity], ['firing', 'warning'])
    assert.match(down.summary, /stopped on purpose \(shutdown\)/)
    h.stop()
  })
})

describe('ledger: device health', () => {
  it('a copy on a device that fails stops counting once the node is re-queued', () => {
    const h = harness()
    const smart = (at: number, verdict: 'passed' | 'failed'): DiskHealthBody => ({
      at: new Date(at).toISOString(),
      disks: [
        {
          name: '/dev/sdc',
          type: 'sat',
          protocol: 'ATA',
          source: 'smartctl',
          smart: verdict,
          serial: 'USB-1',
          model: 'USB disk',
          counters: {},
          failingAttributes: [],
          messages: [],
        },
      ],
      filesystems: [],
      pools: [],
      notes: [],
    })
    const report = (body: DiskHealthBody): void => {
      h.db.transaction(() => h.diskHealth.applyReport('pve1', body, new Date(body.at)))()
    }
    report(smart(T0, 'passed'))
    h.start()
    // Issue 11: the USB disk is offsite and offline because the agent reported it detached at site "office",
    // not because the config typed `offsite: true, offline: true`.
    const usb = probedStorage({ site: 'office', fsUuid: 'usb-1', media: 'usb', attached: false })
    h.run(
      'snap',
      T0,
      60_000,
      [
        h.copy('c1', 'tank/data', T0 + 1, { storage: backupPoolStorage }),
        h.copy('c2', 'tank/data', T0 + 1, {
          location: { kind: 'usb', target: 'USB-1', device: { serial: 'USB-1' } },
          media: 'usb',
          offsite: true,
          offline: true,
          storage: usb,
        }),
      ],
      'success',
      undefined,
      [{ asset: { kind: 'zfs-dataset', id: 'tank/data' }, storage: tankSource }],
    )
    h.ledger.runNow()
    const key = { node: 'pve1', kind: 'zfs-dataset', id: 'tank/data' }
    assert.equal(h.repos.assets.get(key)!.verdict, 'compliant')
    // The disk-health store requeues the node's assets itself when a device's health changes.
    report(smart(T0 + 120_000, 'failed'))
    h.ledger.runNow()
    const a = h.repos.assets.get(key)!
    assert.equal(a.verdict, 'non-compliant')
    assert.equal(a.counts.onUnhealthyDevice, 1)
    assert.match(a.reasons[0]!.message, /1 on failed\/degraded devices not counted/)
    h.stop()
  })
})

describe('ledger: heartbeat timeout', () => {
  it('a node silent past nodeTimeoutS goes down at last heartbeat + timeout, comes back on the next heartbeat', () => {
    const h = harness()
    h.start()
    const hb = (at: number) =>
      h.db.transaction(() => h.core.nodes.setHeartbeat('pve1', {}, new Date(at).toISOString(), 'pve1', '0'))()
    hb(T0)
    h.ledger.runNow()
    assert.equal(h.alert('node-down/pve1'), undefined)
    assert.ok(h.clock.pending().includes(T0 + 600_000), 'the heartbeat deadline is in the single-timer index')
    h.clock.set(T0 + 600_000 + 5)
    const a = h.alert('node-down/pve1')!
    assert.equal(a.state, 'firing')
    assert.equal(a.since, T0 + 600_000, 'dated at the deadline')
    assert.match(a.summary, /no heartbeat since/)
    hb(T0 + 700_000)
    h.clock.set(T0 + 700_000)
    h.ledger.runNow()
    assert.equal(h.alert('node-down/pve1')!.state, 'resolved')
    h.stop()
  })
})

describe('ledger: maintenance windows and notifications', () => {
  it('flips inside a window are recorded but not queued; outside they reach every eligible channel', () => {
    const h = harness()
    h.repos.notify.addChannel(
      { name: 'hook', kind: 'webhook', url: 'http://127.0.0.1:9/x', minSeverity: 'warning' },
      T0,
    )
    h.repos.alerts.addWindow({
      start: T0,
      end: T0 + 2 * H,
      node: 'pve1',
      reason: 'disk swap',
      createdBy: 'test',
      createdAt: T0,
    })
    h.ledger.runNow()
    h.db.transaction(() => h.core.nodes.setStatus('pve1', 'offline', new Date(T0 + H).toISOString(), ''))()
    h.clock.set(T0 + H)
    h.ledger.runNow()
    h.clock.set(T0 + H + 10 * M)
    h.ledger.runNow()
    assert.equal(h.repos.alerts.flips('node-down/pve1', 1)[0]!.decision, 'maintenance')
    assert.equal(h.repos.notify.channels()[0]!.health.pending, 0)
    h.db.transaction(() => h.core.nodes.setStatus('pve1', 'online', new Date(T0 + 3 * H).toISOString(), ''))()
    h.clock.set(T0 + 3 * H)
    h.ledger.runNow()
    assert.equal(
      h.repos.alerts.flips('node-down/pve1', 1)[0]!.decision,
      'notify',
      'the resolution after the window is sent',
    )
    assert.equal(h.repos.notify.channels()[0]!.health.pending, 1)
  })
})

describe('ledger: auto expectations learn the job period from the agent', () => {
  it('a weekly job gets a weekly deadline from the heartbeat after its run, learned once per run', () => {
    const h = harness()
    h.start()
    h.run('weekly', T0, 60_000, [h.copy('c1', 'tank/data', T0 + 1)])
    h.ledger.runNow()
    const key = { node: 'pve1', job: 'weekly', assetKind: 'zfs-dataset', assetId: 'tank/data' }
    assert.equal(h.repos.expectations.get(key)!.alertAfter, T0 + 60_000 + 25 * H, 'default: daily + 1 h grace')
    const hb = (at: number, nextRunAt: number) =>
      h.db.transaction(() =>
        h.core.nodes.setHeartbeat(
          'pve1',
          {
            agentVersion: '0',
            hostname: 'pve1',
            uptimeS: 1,
            outbox: { pending: 0, bytes: 0 },
            jobs: [
              { job: 'weekly', kind: 'zfs-snapshot', nextRunAt: new Date(nextRunAt).toISOString(), skippedOverlaps: 0 },
            ],
          },
          new Date(at).toISOString(),
          'pve1',
          '0',
        ),
      )()
    hb(T0 + 2 * 60_000, T0 + 7 * 24 * H)
    h.clock.set(T0 + 2 * 60_000)
    h.ledger.runNow()
    const e = h.repos.expectations.get(key)!
    assert.equal(e.alertAfter, T0 + 7 * 24 * H + H, 'next announced run + grace')
    assert.deepEqual(e.state.schedule, { kind: 'period', periodS: 7 * 24 * 3600 - 60 })
    // A scheduler that keeps postponing cannot push the deadline: nothing is learned until the next run finishes.
    hb(T0 + 3 * 60_000, T0 + 30 * 24 * H)
    h.clock.set(T0 + 3 * 60_000)
    h.ledger.runNow()
    assert.equal(h.repos.expectations.get(key)!.alertAfter, T0 + 7 * 24 * H + H)
    h.stop()
  })
})
