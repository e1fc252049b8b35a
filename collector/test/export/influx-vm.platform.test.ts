import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import pino from 'pino'
import { requirePlatform } from '../../../test/support/platform.ts'
import { systemLedgerClock } from '../../src/ledger/clock.ts'
import { createExportQueue, createInfluxExporter, influxSink } from '../../src/export/influx.ts'
import { openDb } from '../../src/store/db.ts'

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** A real VictoriaMetrics on an ephemeral port with its own data dir; removed after the test. */
async function startVictoria(t: TestContext): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bk-vm-'))
  const port = await freePort()
  const vm = spawn(
    'victoria-metrics',
    [
      `-storageDataPath=${dir}`,
      `-httpListenAddr=127.0.0.1:${port}`,
      '-search.latencyOffset=0s',
      '-retentionPeriod=100y',
    ],
    { stdio: 'ignore' },
  )
  t.after(async () => {
    vm.kill('SIGTERM')
    await new Promise((r) => vm.once('exit', r))
    rmSync(dir, { recursive: true, force: true })
  })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) {
        return url
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error('victoria-metrics did not become healthy in 5 s')
}

describe('Influx line-protocol export (real VictoriaMetrics)', () => {
  it('queues in SQLite through a TSDB outage and delivers everything once it is reachable', async (t) => {
    if (!requirePlatform(t, { commands: ['victoria-metrics'] })) {
      return
    }
    const log = pino({ level: 'silent' })
    const { db } = openDb({ file: ':memory:' })
    t.after(() => db.close())
    const queue = createExportQueue(db)
    const sink = influxSink(queue)
    const T = Date.parse('2026-11-20T03:00:00Z')
    sink.run({
      node: 'pve1',
      job: 'snap',
      jobKind: 'zfs-snapshot',
      status: 'success',
      durationMs: 12_500,
      bytes: 4096,
      at: T,
    })
    sink.verdict({
      node: 'pve1',
      kind: 'zfs-dataset',
      id: 'tank/data',
      tier: 'critical',
      status: 'non-compliant',
      counts: { copies: 2, mediaTypes: 1, offsite: 0, offlineOrImmutable: 0, verificationErrors: 0 },
      at: T,
    })

    // Outage: nothing listens on this port. The lines stay queued.
    const down = createInfluxExporter({
      url: `http://127.0.0.1:${await freePort()}`,
      token: '',
      org: 'o',
      bucket: 'b',
      queue,
      clock: systemLedgerClock,
      log,
      timeoutMs: 2000,
    })
    down.start()
    await down.drain()
    assert.equal(down.status().consecutiveFailures, 1)
    assert.equal(queue.size(), 2)
    await down.stop()
    sink.run({
      node: 'pve1',
      job: 'snap',
      jobKind: 'zfs-snapshot',
      status: 'failed',
      durationMs: 900,
      bytes: null,
      at: T + 3_600_000,
    })

    const url = await startVictoria(t)
    const up = createInfluxExporter({ url, token: '', org: 'o', bucket: 'b', queue, clock: systemLedgerClock, log })
    up.start()
    await up.drain()
    await up.stop()
    assert.equal(queue.size(), 0, 'deleted only after the server accepted them')
    assert.equal(up.status().written, 3)

    assert.equal((await fetch(`${url}/internal/force_flush`)).ok, true)
    const res = await fetch(`${url}/api/v1/export`, {
      method: 'POST',
      body: new URLSearchParams({
        'match[]': '{__name__=~"backstop_.*"}',
        start: String(T / 1000 - 60),
        end: String(T / 1000 + 7200),
      }),
    })
    const series = (await res.text())
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { metric: Record<string, string>; values: number[]; timestamps: number[] })
    const find = (name: string, labels: Record<string, string> = {}) =>
      series.find((s) => s.metric.__name__ === name && Object.entries(labels).every(([k, v]) => s.metric[k] === v))
    const dur = find('backstop_run_duration_s', { status: 'success' })
    assert.ok(dur, `series: ${series.map((s) => JSON.stringify(s.metric)).join(' ')}`)
    assert.deepEqual(
      [dur.metric.node, dur.metric.job, dur.metric.job_kind, dur.values[0], dur.timestamps[0]],
      ['pve1', 'snap', 'zfs-snapshot', 12.5, T],
    )
    assert.equal(find('backstop_run_bytes', { status: 'success' })?.values[0], 4096)
    assert.deepEqual(
      find('backstop_run_ok', { status: 'failed' })?.timestamps,
      [T + 3_600_000],
      'the line queued during the outage arrived',
    )
    const v = find('backstop_verdict_compliant', { asset: 'tank/data', tier: 'critical' })
    assert.equal(v?.values[0], 0)
    assert.equal(find('backstop_verdict_copies', { asset: 'tank/data' })?.values[0], 2)
  })
})
