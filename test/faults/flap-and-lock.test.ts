import assert from 'node:assert/strict'
import { join } from 'node:path'
import { connect, createServer, type Socket } from 'node:net'
import { describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { agentConfig, collectorSetup, eventually, startProc, tempDir } from '../support/processes.ts'
import { assertExactlyOnceInOrder, burstRows } from './ledger-check.ts'

const burstAgent = 'test/support/burst-agent.ts'
const COUNT = Number(process.env['FAULT_EVENTS_SHORT'] ?? 3000)
const COUNT_TEXT = COUNT.toLocaleString('en')

/**
 * A TCP proxy in front of the collector's MQTT port that cuts every connection every `periodMs`, and also after
 * every `cutBytes` sent towards the collector — so the burst sees several cuts however fast the machine drains it.
 */
async function flappingProxy(
  target: number,
  periodMs: number,
  cutBytes: number,
): Promise<{ port: number; cuts: () => number; close: () => void }> {
  const live = new Set<Socket>()
  let cuts = 0
  let sinceCut = 0
  const cutAll = (): void => {
    if (live.size > 0) {
      cuts++
    }
    sinceCut = 0
    for (const s of live) {
      s.destroy()
    }
  }
  const server = createServer((client) => {
    const up = connect(target, '127.0.0.1')
    client.pipe(up).pipe(client)
    client.on('data', (d: Buffer) => {
      sinceCut += d.length
      if (sinceCut >= cutBytes) {
        setImmediate(cutAll)
      }
    })
    live.add(client)
    live.add(up)
    const drop = (): void => {
      live.delete(client)
      live.delete(up)
      client.destroy()
      up.destroy()
    }
    client.on('error', drop).on('close', drop)
    up.on('error', drop).on('close', drop)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const timer = setInterval(cutAll, periodMs)
  return {
    port: (server.address() as { port: number }).port,
    cuts: () => cuts,
    close: () => {
      clearInterval(timer)
      server.close()
    },
  }
}

// The two cases share nothing (own directory, collector, agent, ports), so they run side by side.
describe('fault injection: flapping connection, locked database', { timeout: 6 * 60_000, concurrency: 2 }, () => {
  it(`broker connection cut every 2 s or 512 KiB during ${COUNT_TEXT} events: exactly once, in order`, async (t) => {
    const dir = tempDir(t, 'bk-flap-')
    const c = await collectorSetup(dir)
    const collector = await c.start()
    const proxy = await flappingProxy(Number(new URL(c.mqttUrl).port), 2000, 512 * 1024)
    const node = 'fault-flap'
    const agent = startProc(
      [
        '--import',
        'tsx',
        burstAgent,
        '--config',
        agentConfig(dir, `mqtt://127.0.0.1:${proxy.port}`, { node }),
        '--count',
        String(COUNT),
        '--pace-ms',
        '100',
        // Reconnect backoff capped at 2 s (default: growing towards 60 s, as no session outlives the cuts): the
        // cuts, not backoff sleeps, fill the flow; cuts are counted only while a connection is up.
        '--backoff-max-ms',
        '2000',
      ],
      join(dir, 'agent.log'),
    )
    t.after(async () => {
      proxy.close()
      await agent.kill9()
      await collector.kill9()
    })
    await agent.waitFor(/^drained$/m, 4 * 60_000)
    console.log(`# faults-flap ${JSON.stringify({ events: COUNT, cuts: proxy.cuts() })}`)
    assert.ok(proxy.cuts() >= 3, `the connection was cut while events flowed (${proxy.cuts()} cuts)`)
    assertExactlyOnceInOrder(c.dbFile, node, COUNT)
  })

  it('SQLite locked by another process past busy_timeout mid-burst: nothing lost or doubled on release', async (t) => {
    const dir = tempDir(t, 'bk-lock-')
    const c = await collectorSetup(dir)
    const collector = await c.start()
    const node = 'fault-lock'
    const agent = startProc(
      [
        '--import',
        'tsx',
        burstAgent,
        '--config',
        agentConfig(dir, c.mqttUrl, { node }),
        '--count',
        String(COUNT),
        // The failed batch is retried after the transport's backoff: capped at 2 s, not up to 60 s.
        '--backoff-max-ms',
        '2000',
      ],
      join(dir, 'agent.log'),
    )
    t.after(async () => {
      await agent.kill9()
      await collector.kill9()
    })
    await eventually(
      () => (burstRows(c.dbFile, node).length >= 500 ? true : undefined),
      '500 events committed',
      120_000,
    )
    // Another process (think: a backup tool or a careless sqlite3 shell) takes the write lock for 7 s; the
    // collector's busy_timeout is 5 s, so at least one batch fails and must be replayed, not lost or acked.
    const locker = new Database(c.dbFile)
    locker.exec('BEGIN IMMEDIATE')
    const atLock = burstRows(c.dbFile, node).length
    await new Promise((r) => setTimeout(r, 7000))
    const duringLock = burstRows(c.dbFile, node).length
    locker.exec('ROLLBACK')
    locker.close()
    await agent.waitFor(/^drained$/m, 4 * 60_000)
    const log = collector.output()
    const batchFailureLogged = /rolled back|batch.*fail|SQLITE_BUSY|database is locked/i.test(log)
    console.log(`# faults-lock ${JSON.stringify({ events: COUNT, atLock, duringLock, batchFailureLogged })}`)
    assert.equal(duringLock, atLock, 'nothing committed while the lock was held')
    assertExactlyOnceInOrder(c.dbFile, node, COUNT)
    assert.equal(collector.child.exitCode, null, 'the collector survived the lock')
  })
})
