import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { FixtureExec } from '../../src/exec/fixture-exec.ts'
import { LIST_JOBS_TIMEOUT_MS, leaveReasonOf, parseListJobs, probeLeaveReason } from '../../src/systemd/leave-reason.ts'
import { memoryLog } from '../exec/memory-log.ts'

const fixtures = fileURLToPath(new URL('../fixtures/systemd/', import.meta.url))
const recorded = (name: string): FixtureExec => FixtureExec.fromFiles([join(fixtures, `${name}.json`)])

describe('leave reason: what a stopped agent tells the collector', () => {
  it('systemctl restart (or a package upgrade) → restart', async () => {
    const exec = recorded('list-jobs-restart')
    assert.equal(await probeLeaveReason(exec, memoryLog().log), 'restart')
    exec.assertAllUsed()
  })

  it('systemctl stop, reboot or poweroff (a stop job) → shutdown', async () => {
    assert.equal(await probeLeaveReason(recorded('list-jobs-stop'), memoryLog().log), 'shutdown')
  })

  it('a SIGTERM systemd did not send (kill, a container runtime) → shutdown', async () => {
    assert.equal(await probeLeaveReason(recorded('list-jobs-none'), memoryLog().log), 'shutdown')
  })

  it('no systemd as PID 1 (recorded) → shutdown, with the cause at debug', async () => {
    const { log, records } = memoryLog()
    assert.equal(await probeLeaveReason(recorded('list-jobs-no-systemd'), log), 'shutdown')
    assert.match(String(records.at(-1)?.['cause']), /exited 1: Failed to connect to bus: Host is down/)
  })

  it('systemctl missing or hanging → shutdown; the probe is bounded', async () => {
    const argv = ['systemctl', 'list-jobs', '--no-legend', '--no-pager', '--full', 'backstop-agent.service']
    const missing = new FixtureExec([{ argv, error: 'BK_ERR_EXEC_SPAWN' }])
    assert.equal(await probeLeaveReason(missing, memoryLog().log), 'shutdown')
    const hung = new FixtureExec([{ argv, error: 'BK_ERR_EXEC_TIMEOUT' }])
    let timeout: number | undefined
    const watched = {
      run: (a: readonly string[], o?: { timeoutMs?: number }) => {
        timeout = o?.timeoutMs
        return hung.run(a, o)
      },
      pipeline: hung.pipeline.bind(hung),
    }
    assert.equal(await probeLeaveReason(watched, memoryLog().log), 'shutdown')
    assert.equal(timeout, LIST_JOBS_TIMEOUT_MS)
  })

  it('only a restart job of this unit counts: another unit being restarted says nothing about this one', () => {
    const jobs = parseListJobs('  17 nginx.service restart running\n  18 backstop-agent.service stop running\n')
    assert.deepEqual(jobs, [
      { id: 17, unit: 'nginx.service', type: 'restart', state: 'running' },
      { id: 18, unit: 'backstop-agent.service', type: 'stop', state: 'running' },
    ])
    assert.equal(leaveReasonOf(jobs), 'shutdown')
    assert.equal(leaveReasonOf(parseListJobs('5 backstop-agent.service try-restart waiting\n')), 'restart')
    assert.deepEqual(parseListJobs('No jobs running.\n'), [], 'a legend line is not a job')
  })
})
