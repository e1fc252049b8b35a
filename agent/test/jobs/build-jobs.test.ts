import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseAgentConfig } from '../../src/config/load.ts'
import { buildJobs } from '../../src/jobs/build-jobs.ts'

describe('buildJobs', () => {
  it('builds one Job per configured job, by kind, keeping names and order', () => {
    const cfg = parseAgentConfig(
      `
collector: { url: mqtt://127.0.0.1:1883 }
jobs:
  - { kind: archive, name: etc, paths: [/etc], destination: /backups, media: hdd, schedule: "0 3 * * *" }
  - { kind: archive, name: net, paths: [/etc/network], destination: /backups, media: usb }
`,
      'inline.yaml',
      { hostname: 'pve1' },
    )
    const jobs = buildJobs(cfg.jobs)
    assert.deepEqual(
      jobs.map((j) => [j.name, j.kind]),
      [
        ['etc', 'archive'],
        ['net', 'archive'],
      ],
    )
    assert.equal(typeof jobs[0]?.plan, 'function')
  })
})
