import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { systemClock } from '@backstop/agent/src/clock.ts'
import { loadAgentConfig } from '@backstop/agent/src/config/load.ts'
import { createAgentRuntime } from '@backstop/agent/src/runtime.ts'
import { parseCollectorConfig } from '../../collector/src/config/load.ts'
import { startCollector, type RunningCollector } from '../../collector/src/main.ts'
import { captureLog } from '../../collector/test/support/harness.ts'
import { agentConfig, freePort, tempDir, TOKEN } from '../support/processes.ts'
import { waitFor } from '../support/wait-for.ts'

/**
 * A collector restored to a backup OLDER than the newest one its agents saw: the agent released what the newer
 * backup covered, so those events are gone for good. It must say so (outbox-uncovered, critical, naming the seqs)
 * and still resend everything it kept. Collector and agent runtime in-process, over real MQTT.
 */
describe('restore to an older backup (collector and agent in-process)', { timeout: 180_000 }, () => {
  it('the agent resends what it kept and the collector pages the events released in between as lost', async (t) => {
    const dir = tempDir(t, 'bk-older-')
    const port = await freePort()
    const config = parseCollectorConfig(
      `dataDir: ${dir}/collector\nmqtt: {host: 127.0.0.1, port: ${port}}\napi: {host: 127.0.0.1, port: 0}\n` +
        `enrollment: {tokens: [${TOKEN}]}\ningest: {batchIntervalMs: 2, verifyWorkers: 0}\ntls: {plaintext: true}\n`,
      'older.yaml',
    )
    const start = (): Promise<RunningCollector> => startCollector(config, { log: captureLog('warn').log })
    let c = await start()
    t.after(() => c.stop())
    const node = 'older-node'
    const agentCfg = loadAgentConfig(agentConfig(dir, `mqtt://127.0.0.1:${port}`, { node }), { hostname: hostname() })
    const { log, lines } = captureLog('info')
    const runtime = await createAgentRuntime({
      config: agentCfg,
      clock: systemClock,
      log,
      transport: { backoff: { baseMs: 100, maxMs: 500 } },
    })
    runtime.start()
    t.after(() => runtime.stop())
    const seqs: number[] = []
    const emit = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const env = await runtime.emit('job.started', {
          runId: `r${seqs.length}`,
          job: 'docs',
          jobKind: 'archive',
          startedAt: new Date().toISOString(),
          trigger: 'manual',
        })
        seqs.push(env.seq)
      }
      assert.ok(await runtime.flush(60_000), 'acknowledged')
    }
    const highWater = (): number =>
      (c.db.prepare('SELECT seq FROM node_high_water WHERE node = ?').get(node) as { seq: number }).seq
    const keep = () => runtime.status().outbox.keep!
    const backup = async (file: string): Promise<number> => {
      await c.db.backup(file)
      const hw = highWater()
      c.checkpoints.onVerifiedBackup({ path: file, takenAt: new Date(), highWater: new Map([[node, hw]]) })
      await waitFor(() => keep().checkpointSeq === hw && keep().releasedThrough >= hw, {
        what: `the agent applied the checkpoint of ${file} (seq ${hw})`,
      })
      return hw
    }

    await emit(3)
    const older = await backup(join(dir, 'older.db'))
    await emit(3)
    const newer = await backup(join(dir, 'newer.db'))
    await emit(2)
    assert.ok(newer > older)

    // The collector is restored to the OLDER backup.
    await c.stop()
    rmSync(config.dbFile, { force: true })
    rmSync(`${config.dbFile}-wal`, { force: true })
    rmSync(`${config.dbFile}-shm`, { force: true })
    const { restoreDatabase } = await import('../../collector/src/cli/restore.ts')
    restoreDatabase(
      { from: join(dir, 'older.db'), dataDir: config.dataDir, dbFile: config.dbFile, access: config.dataDirAccess },
      { out: () => undefined },
    )
    c = await start()

    const alert = () =>
      c.db.prepare("SELECT state, severity, summary FROM alerts WHERE key = 'outbox-uncovered/older-node'").get() as
        { state: string; severity: string; summary: string } | undefined
    const paged = await waitFor(() => alert()?.state === 'firing' && alert(), {
      what: 'outbox-uncovered fires for the events released after the older backup',
      timeoutMs: 60_000,
    })
    assert.equal(paged.severity, 'critical')
    assert.match(paged.summary, new RegExp(`seq ${older + 1}\\.\\.${newer} of older-node .* lost`))
    assert.deepEqual(keep().lost, { fromSeq: older + 1, toSeq: newer })
    // What the agent still kept (after the newer backup) is back; what it had released in between is not.
    const stored = (from: number, to: number): number =>
      (
        c.db
          .prepare("SELECT count(*) AS n FROM events WHERE node = ? AND kind = 'job.started' AND seq BETWEEN ? AND ?")
          .get(node, from, to) as { n: number }
      ).n
    const keptAfterNewer = seqs.filter((s) => s > newer)
    await waitFor(() => stored(newer + 1, Math.max(...seqs)) === keptAfterNewer.length, {
      what: 'the events kept after the newer backup are resent',
      timeoutMs: 60_000,
    })
    assert.equal(stored(older + 1, newer), 0, 'released after the older backup: lost, as the alert says')
    assert.ok(lines.some((l) => String(l.msg).includes('they are lost')))
  })
})
