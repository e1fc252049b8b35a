import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { acquirePidLock } from '../../src/cli/pid-lock.ts'
import { readSpool, runVzdumpHook } from '../../src/cli/vzdump-hook.ts'
import { settle } from '../scheduler/fake-clock.ts'
import { harness } from './cli-harness.ts'
import { waitFor } from '../../../test/support/wait-for.ts'

describe('command line', () => {
  it('an unknown command is a usage error (64); --help lists every command', async (t) => {
    const h = harness(t)
    const r = await h.cli('frobnicate')
    assert.equal(r.code, 64)
    assert.match(r.err, /unknown command/)
    const help = await h.cli('--help')
    assert.equal(help.code, 0)
    for (const c of ['run', 'once', 'configcheck', 'status', 'plan']) {
      assert.match(help.out, new RegExp(`^  ${c}\\b`, 'm'))
    }
  })
})

describe('configcheck', () => {
  it('a valid file: exit 0 and a summary with each job and its next run', async (t) => {
    const h = harness(t)
    const r = await h.cli('configcheck', '--config', h.config)
    assert.equal(r.code, 0, r.err)
    assert.match(r.out, /agent\.yaml: OK/)
    assert.match(r.out, /etc \(archive\) "0 3 \* \* \*" UTC, next 2026-03-02T03:00:00\.000Z/)
    const j = await h.cli('-c', h.config, 'configcheck', '--json')
    assert.equal(JSON.parse(j.out).jobs[0].nextRunAt, '2026-03-02T03:00:00.000Z')
  })

  it('an invalid file: every issue as file:line:col: field: message, exit 1', async (t) => {
    const h = harness(t)
    writeFileSync(
      h.config,
      'node: "Bad Node"\ncollector:\n  url: http://x\njobs:\n' +
        '  - { kind: archive, name: a, paths: [/etc], media: hdd }\n',
    )
    const r = await h.cli('configcheck', '--config', h.config)
    assert.equal(r.code, 1)
    const lines = r.err.trim().split('\n')
    assert.ok(lines.length >= 2, r.err)
    for (const l of lines) {
      assert.match(l, new RegExp(`^${h.config}:\\d+:\\d+: [^:]+: .+`), l)
    }
    assert.ok(
      lines.some((l) => l.startsWith(`${h.config}:1:7: node: `)),
      r.err,
    )
    assert.ok(
      lines.some((l) => l.startsWith(`${h.config}:3:8: collector.url: `)),
      r.err,
    )
  })

  it('a missing file names it and how to point at another', async (t) => {
    const h = harness(t)
    const r = await h.cli('configcheck', '--config', join(h.dir, 'nope.yaml'))
    assert.equal(r.code, 1)
    assert.match(r.err, /BK_ERR_CONFIG_NOT_FOUND: .*nope\.yaml.*--config/)
  })
})

describe('once', () => {
  it('runs the job, emits started+finished, prints the copy, exit 0 when acknowledged', async (t) => {
    const h = harness(t)
    const r = await h.cli('once', 'etc', '--config', h.config)
    assert.equal(r.code, 0, r.err)
    assert.deepEqual(
      h.runtime.emitted.map((e) => e.kind).filter((k) => k !== 'job.progress'),
      ['job.started', 'job.finished'],
    )
    assert.equal(h.runtime.emitted.at(-1)?.body['status'], 'success')
    assert.equal(h.runtime.emitted[0]?.body['trigger'], 'manual')
    assert.match(r.out, /^etc: success — 1 copy, 0 deleted/)
    assert.match(r.out, /etc-20260301T120000Z\.tar\.gz \[verified\]/)
    assert.ok(existsSync(join(h.dest, 'etc-20260301T120000Z.tar.gz')))
    assert.equal(h.runtime.started, 1)
    assert.equal(h.runtime.stopped, 1)
    assert.equal(h.runtime.presence, false, "once never speaks for the node's presence (status topic, heartbeat)")
    assert.ok(!existsSync(join(h.dir, 'state', 'agent.pid')), 'lock released')
  })

  it('exit 3 when the collector did not acknowledge in time; 1 when the job failed or is unknown', async (t) => {
    const h = harness(t)
    h.runtime.acked = false
    const r = await h.cli('once', 'etc', '--config', h.config, '--ack-timeout', '0')
    assert.equal(r.code, 3)
    assert.match(r.err, /not acknowledged/)
    rmSync(h.src, { recursive: true })
    h.runtime.acked = true
    const failed = await h.cli('once', 'etc', '--config', h.config, '--json')
    assert.equal(failed.code, 1)
    assert.equal(JSON.parse(failed.out).error.code, 'BK_ERR_SOURCE_MISSING')
    const unknown = await h.cli('once', 'nope', '--config', h.config)
    assert.equal(unknown.code, 1)
    assert.match(unknown.err, /BK_ERR_JOB_UNKNOWN: .*"nope".*jobs: etc/)
  })

  it('refuses to run beside a live agent holding the state directory', async (t) => {
    const h = harness(t)
    const other = spawn('sleep', ['30'])
    t.after(() => other.kill())
    // Take and release the lock once so the state directory exists, then plant a live foreign pid in it.
    acquirePidLock(join(h.dir, 'state')).release()
    writeFileSync(join(h.dir, 'state', 'agent.pid'), `${other.pid}\n`)
    const r = await h.cli('once', 'etc', '--config', h.config)
    assert.equal(r.code, 1)
    assert.match(r.err, new RegExp(`BK_ERR_AGENT_LOCKED: .*agent pid ${other.pid} is running`))
    assert.equal(h.runtime.emitted.length, 0)
  })
})

describe('status and plan', () => {
  it('status --json: node, enrollment, outbox, next run and the last result from the state directory', async (t) => {
    const h = harness(t)
    await h.cli('once', 'etc', '--config', h.config)
    const r = await h.cli('status', '--json', '--config', h.config)
    assert.equal(r.code, 0, r.err)
    const s = JSON.parse(r.out)
    assert.equal(s.node, 'test-node')
    assert.equal(s.enrollment, 'pinned')
    assert.deepEqual(s.outbox, { pending: 0, bytes: 0 })
    assert.deepEqual(s.daemon, { running: false })
    assert.equal(s.jobs[0].job, 'etc')
    assert.equal(s.jobs[0].nextRunAt, '2026-03-02T03:00:00.000Z')
    assert.equal(s.jobs[0].lastRun.status, 'success')
    assert.equal(s.jobs[0].lastRun.trigger, 'manual')
    const text = await h.cli('status', '--config', h.config)
    assert.match(text.out, /etc \(archive\): next 2026-03-02T03:00:00\.000Z; last success/)
  })

  it('plan <job> --json lists keep/destroy with the rule', async (t) => {
    const h = harness(t)
    mkdirSync(h.dest)
    // Each with a matching manifest: only archives that verify fill a retention slot.
    const sha256OfX = '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881'
    for (let i = 0; i < 3; i++) {
      const name = `etc-2026022${i}T000000Z.tar.gz`
      writeFileSync(join(h.dest, name), 'x', { flag: 'w' })
      writeFileSync(join(h.dest, `${name}.sha256`), `${sha256OfX}  ${name}\n`)
    }
    const r = await h.cli('plan', 'etc', '--json', '--config', h.config)
    assert.equal(r.code, 0, r.err)
    const lines = JSON.parse(r.out) as { name: string; action: string; reasons: string[] }[]
    assert.deepEqual(
      lines.map((l) => [l.name, l.action]),
      [
        ['etc-20260222T000000Z.tar.gz', 'keep'],
        ['etc-20260221T000000Z.tar.gz', 'keep'],
        ['etc-20260220T000000Z.tar.gz', 'destroy'],
      ],
    )
    assert.deepEqual(lines[1]!.reasons, ['last(2)'])
    assert.match(lines[2]!.reasons[0]!, /^kept by no rule; newer successful copy .*etc-20260222T000000Z\.tar\.gz kept$/)
    assert.ok(existsSync(join(h.dest, 'etc-20260220T000000Z.tar.gz')), 'plan deletes nothing')
  })
})

describe('run (daemon)', () => {
  it('starts runtime + scheduler, catches up, stops gracefully on SIGTERM', async (t) => {
    const h = harness(t)
    // The 03:00 slot of 2026-03-01 was missed while the agent was down (last slot handled: the day before).
    const state = join(h.dir, 'state', 'jobs')
    mkdirSync(state, { recursive: true })
    writeFileSync(join(state, 'etc.json'), JSON.stringify({ lastSlotAt: '2026-02-28T03:00:00.000Z' }))
    const done = h.cli('run', '--config', h.config)
    await waitFor(
      async () => {
        await settle()
        return h.runtime.emitted.some((e) => e.kind === 'job.finished')
      },
      { what: 'job.finished of the catch-up run', timeoutMs: 30_000 },
    )
    assert.equal(h.runtime.started, 1)
    assert.deepEqual(
      h.runtime.emitted.filter((e) => e.kind === 'job.started').map((e) => [e.body['trigger'], e.body['scheduledFor']]),
      [['catch-up', '2026-03-01T03:00:00.000Z']],
    )
    assert.equal(h.runtime.jobStatus?.()[0]?.nextRunAt, '2026-03-02T03:00:00.000Z')
    assert.ok(existsSync(join(h.dir, 'state', 'agent.pid')))
    const snap = JSON.parse(readFileSync(join(h.dir, 'state', 'status.json'), 'utf8'))
    assert.equal(snap.pid, process.pid)
    await h.clock.advanceTo('2026-03-01T12:00:30Z')
    const refreshed = JSON.parse(readFileSync(join(h.dir, 'state', 'status.json'), 'utf8'))
    assert.equal(refreshed.at, '2026-03-01T12:00:30.000Z', 'the daemon refreshes status.json every 30 s')
    const live = JSON.parse((await h.cli('status', '--json', '--config', h.config)).out)
    assert.deepEqual(live.daemon, { running: true, pid: process.pid, snapshotAt: '2026-03-01T12:00:30.000Z' })
    assert.deepEqual(live.outbox, { pending: 0, bytes: 0 }, 'counted read-only while the daemon owns it')
    assert.equal(live.jobs[0].lastRun.trigger, 'catch-up')
    h.signal()
    const r = await done
    assert.equal(r.code, 0, r.err)
    assert.equal(h.runtime.stopped, 1)
    assert.equal(h.runtime.presence, undefined, 'the daemon speaks for the node (the default)')
    assert.equal(h.runtime.stopReason, 'shutdown', 'a stop signal is a graceful shutdown, not the Last Will')
    assert.ok(!existsSync(join(h.dir, 'state', 'agent.pid')), 'lock released on stop')
  })

  it('SIGTERM mid-run: tar killed, BK_ERR_JOB_ABORTED, nothing partial left, slot caught up next time', async (t) => {
    const h = harness(t)
    // 4 GiB of sparse zeros: tar+gzip needs many seconds, so the run is surely inside tar when the signal comes.
    writeFileSync(join(h.src, 'big'), '')
    truncateSync(join(h.src, 'big'), 4 * 1024 ** 3)
    const state = join(h.dir, 'state', 'jobs')
    mkdirSync(state, { recursive: true })
    writeFileSync(join(state, 'etc.json'), JSON.stringify({ lastSlotAt: '2026-02-28T03:00:00.000Z' }))
    const done = h.cli('run', '--config', h.config)
    await waitFor(() => h.runtime.emitted.some((e) => e.kind === 'job.progress'), {
      what: 'job.progress from tar',
      timeoutMs: 30_000,
    })
    assert.ok(
      h.runtime.emitted.some((e) => e.kind === 'job.progress'),
      'the run reached tar',
    )
    const t0 = Date.now()
    h.signal()
    const r = await done
    assert.equal(r.code, 0, r.err)
    assert.ok(Date.now() - t0 < 10_000, 'tar was stopped, not waited for')
    const finished = h.runtime.emitted.find((e) => e.kind === 'job.finished')
    assert.equal(finished?.body['status'], 'failed')
    assert.equal((finished?.body['error'] as { code: string }).code, 'BK_ERR_JOB_ABORTED')
    assert.deepEqual(existsSync(h.dest) ? readdirSync(h.dest) : [], [], 'no partial archive left behind')
    assert.equal(JSON.parse(readFileSync(join(state, 'etc.json'), 'utf8')).lastSlotAt, '2026-02-28T03:00:00.000Z')
    assert.equal(h.runtime.stopped, 1)
  })

  it('drains backups Proxmox ran itself (vzdump hook spool) into job events with trigger hook', async (t) => {
    const h = harness(
      t,
      `  - { kind: vzdump, name: pve-scheduled, all: true, storage: pbs1, media: nas, offsite: true, hookReports: true }
`,
    )
    const stateDir = join(h.dir, 'state')
    const env = { STOREID: 'pbs1', VMTYPE: 'qemu', HOSTNAME: 'web' }
    let at = Date.parse('2026-03-01T02:00:00Z')
    for (const argv of [
      ['job-start'],
      ['backup-start', 'snapshot', '101'],
      ['backup-end', 'snapshot', '101'],
      ['log-end', 'snapshot', '101'],
      ['job-end'],
    ]) {
      runVzdumpHook(argv, {
        stateDir,
        env: { ...env, ...(argv[0] === 'backup-end' ? { TARGET: 'vm/101/2026-03-01T02:00:05Z' } : {}) },
        now: () => new Date((at += 5000)),
        warn: (m) => assert.fail(m),
      })
    }
    assert.ok(readSpool(stateDir).length > 0, 'the hook spooled records')
    const done = h.cli('run', '--config', h.config)
    await waitFor(() => h.runtime.emitted.some((e) => e.body['trigger'] === 'hook'), {
      what: 'a job event with trigger hook',
      timeoutMs: 30_000,
    })
    h.signal()
    assert.equal((await done).code, 0)
    const hookRuns = h.runtime.emitted.filter((e) => e.body['job'] === 'pve-scheduled')
    assert.deepEqual(
      hookRuns.map((e) => e.kind),
      ['job.started', 'job.finished'],
    )
    assert.equal(hookRuns[0]?.body['trigger'], 'hook')
    assert.deepEqual(readSpool(stateDir), [], 'drained records are removed')
    assert.deepEqual(
      h.runtime
        .jobStatus?.()
        .map((j) => j.job)
        .sort(),
      ['etc', 'pve-scheduled'],
      'the drain is not a job in heartbeats',
    )
  })
})
