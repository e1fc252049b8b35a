import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseCollectorConfig } from '../../collector/src/config/load.ts'
import { startCollector } from '../../collector/src/main.ts'
import { captureLog } from '../../collector/test/support/harness.ts'
import { agentBin, agentConfig, eventually, startProc, tempDir, TOKEN } from '../support/processes.ts'

/**
 * A signed command from the collector to the real agent daemon: run-job runs the job; a kind outside the allowlist is
 * refused and reported.
 */
describe('signed commands end to end (collector in-process, agent binary)', { timeout: 3 * 60_000 }, () => {
  it('run-job runs the job and reports succeeded; restore-test outside commands.allow is rejected', async (t) => {
    const dir = tempDir(t, 'bk-cmd-e2e-')
    const sample = join(dir, 'sample')
    mkdirSync(sample, { recursive: true })
    writeFileSync(join(sample, 'storage.cfg'), 'dir: local\n\tpath /var/lib/vz\n')
    const c = await startCollector(
      parseCollectorConfig(
        `dataDir: ${dir}/collector\n` +
          'mqtt: {host: 127.0.0.1, port: 0}\napi: {host: 127.0.0.1, port: 0}\n' +
          `enrollment: {tokens: [${TOKEN}]}\n` +
          'ingest: {batchIntervalMs: 2, verifyWorkers: 0}\ntls: {plaintext: true}\n',
        'cmd.yaml',
      ),
      { log: captureLog('warn').log },
    )
    t.after(() => c.stop())
    const cfg = agentConfig(dir, c.mqttUrl, {
      node: 'cmd-node',
      jobs: [
        {
          kind: 'archive',
          name: 'pve-config',
          schedule: '0 3 * * *',
          paths: [sample],
          destination: join(dir, 'backups'),
          keepLast: 2,
          media: 'usb',
          offsite: true,
          offline: false,
        },
      ],
      extra: { commands: { allow: ['run-job'] } },
    })
    const agent = startProc([agentBin, 'run', '--config', cfg], join(dir, 'agent.log'))
    t.after(() => agent.kill9())
    await eventually(
      () => (c.db.prepare("SELECT 1 FROM nodes WHERE node = 'cmd-node'").get() ? true : undefined),
      'agent enrolled',
      60_000,
    )
    await agent.waitFor(/agent running/, 30_000)
    // The agent subscribes to its commands topic after enrolling; give the subscription a moment to land.
    await new Promise((r) => setTimeout(r, 1000))
    const run = c.commands.issue({
      node: 'cmd-node',
      kind: 'run-job',
      args: { job: 'pve-config' },
      requestedBy: 'test',
    })
    const done = await eventually(
      () => {
        const row = c.commands.get(run.id)
        return row && (row.status === 'succeeded' || row.status === 'failed' || row.status === 'rejected')
          ? row
          : undefined
      },
      'run-job outcome',
      90_000,
    )
    assert.equal(done.status, 'succeeded', JSON.stringify(done))
    const runs = c.db
      .prepare("SELECT trigger, status FROM runs WHERE node = 'cmd-node' AND job = 'pve-config'")
      .all() as { trigger: string; status: string }[]
    assert.ok(
      runs.some((r) => r.trigger === 'command'),
      `a run triggered by the command: ${JSON.stringify(runs)}`,
    )
    const refused = c.commands.issue({
      node: 'cmd-node',
      kind: 'restore-test',
      args: { job: 'pve-config' },
      requestedBy: 'test',
    })
    const r2 = await eventually(
      () => (c.commands.get(refused.id)?.status === 'rejected' ? c.commands.get(refused.id) : undefined),
      'restore-test rejected',
      60_000,
    )
    assert.equal(r2!.resultCode, 'BK_ERR_CMD_NOT_ALLOWED')
    assert.deepEqual(
      c.db
        .prepare("SELECT action FROM audit_log WHERE action LIKE 'command.%' ORDER BY seq")
        .all()
        .map((r) => (r as { action: string }).action),
      ['command.issue', 'command.accepted', 'command.succeeded', 'command.issue', 'command.rejected'],
    )
  })
})
