import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { parseAgentConfig } from '../../src/config/load.ts'
import { buildJobs } from '../../src/jobs/build-jobs.ts'
import { jobKindNames, jobKinds } from '../../src/jobs/kinds.ts'
import { backupTargetsOfJobs } from '../../src/health/backup-targets.ts'

/**
 * What the compiler cannot see about the job-kind table: the example config documents every kind in it, and every
 * kind built from that example offers the whole Job surface (kinds.ts types it; this checks the objects).
 */
const example = fileURLToPath(new URL('../../../deploy/config/agent.example.yaml', import.meta.url))

describe('job-kind table', () => {
  const text = readFileSync(example, 'utf8')
  const cfg = parseAgentConfig(text, 'agent.example.yaml', { hostname: 'pve1' })

  it('deploy/config/agent.example.yaml shows a job of every kind in the table, and no kind outside it', () => {
    assert.deepEqual([...new Set(cfg.jobs.map((j) => j.kind))].sort(), [...jobKindNames].sort())
    assert.deepEqual(Object.keys(jobKinds).sort(), [...jobKindNames].sort())
  })

  it('each built job has its kind and name, and plan / inventory / verifyCopy / restoreTest', () => {
    const jobs = buildJobs(cfg.jobs)
    assert.deepEqual(
      jobs.map((j) => [j.name, j.kind]),
      cfg.jobs.map((j) => [j.name, j.kind]),
    )
    for (const j of jobs) {
      for (const m of ['run', 'plan', 'inventory', 'verifyCopy', 'restoreTest'] as const) {
        assert.equal(typeof j[m], 'function', `${j.kind}.${m}`)
      }
    }
  })

  it('fill-forecast targets come from each kind’s table line (rear: none, the stick is unmounted between runs)', () => {
    // The zfs job's ssh target (nas) is another host's pool: not sampled here. The pull job's root pool is, and so
    // are the receiving pool and directory of the zfs-replicas and btrfs-replicas jobs (what the senders fill).
    assert.deepEqual(backupTargetsOfJobs(cfg.jobs), [
      { path: '/mnt/usb-backup/config' },
      { zfs: 'tank' },
      { zfs: 'rpool' },
      { zfs: 'usbpool' },
      { zfs: 'backup' },
      { path: '/mnt/btr/.snapshots' },
      { path: '/mnt/backup/home' },
      { path: '/mnt/backup/pve1' },
      { path: '/var/lib/vz/dump' },
    ])
    const rear = cfg.jobs.filter((j) => j.kind === 'rear')
    assert.equal(rear.length, 1)
    assert.deepEqual(backupTargetsOfJobs(rear), [])
  })
})
