import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { ConfigError } from '@backstop/shared'
import { parseAgentConfig } from '../../src/config/load.ts'
import type { ResolvedArchiveJob } from '../../src/jobs/archive/config.ts'
import type { ResolvedRearJob } from '../../src/jobs/rear/config.ts'
import type { ResolvedVzdumpJob } from '../../src/jobs/vzdump/config.ts'
import { harness } from '../cli/cli-harness.ts'

/**
 * The old retention keys (archive keepLast, rear keepRuns, vzdump pruneBackups) are mapped to the GFS `retention:`
 * they mean, with a warning at their file:line naming what to write; a conflict or an unmappable value is refused.
 */
const head = 'collector: { url: mqtt://127.0.0.1:1883 }\njobs:\n'
const parse = (jobs: string) => parseAgentConfig(`${head}${jobs}`, 'agent.yaml', { hostname: 'pve1' })
const NONE = { last: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 }

describe('old retention keys', () => {
  it('archive keepLast: N → retention.keep.last N, calendar classes 0 (the old behaviour), warned at its line', () => {
    const cfg = parse(
      '  - kind: archive\n    name: etc\n    paths: [/etc]\n    destination: /b\n    keepLast: 14\n    media: hdd\n',
    )
    const job = cfg.jobs[0] as ResolvedArchiveJob
    assert.deepEqual(job.retention.keep, { ...NONE, last: 14 })
    assert.deepEqual(cfg.warnings, [
      'agent.yaml:7:15: jobs[0].keepLast: keepLast is replaced by the GFS policy; ' +
        'read as `retention: { keep: { last: 14 } }` — write that (docs/retention.md "Old retention keys")',
    ])
  })

  it('rear keepRuns: N → retention.keep.last N', () => {
    const cfg = parse('  - { kind: rear, name: usb, keepRuns: 3 }\n')
    assert.deepEqual((cfg.jobs[0] as ResolvedRearJob).retention.keep, { ...NONE, last: 3 })
    assert.match(
      cfg.warnings?.[0] ?? '',
      /^agent\.yaml:3:\d+: jobs\[0\]\.keepRuns: .*`retention: \{ keep: \{ last: 3 \} \}`/,
    )
  })

  it('vzdump pruneBackups: every PVE class written out (PVE sets unlisted ones to 0, our defaults are not 0)', () => {
    const cfg = parse(
      '  - { kind: vzdump, name: g, guests: [100], dumpdir: /d, media: hdd,' +
        ' pruneBackups: "keep-last=3,keep-daily=7" }\n',
    )
    assert.deepEqual((cfg.jobs[0] as ResolvedVzdumpJob).retention?.keep, { ...NONE, last: 3, daily: 7 })
    assert.match(
      cfg.warnings?.[0] ?? '',
      new RegExp(
        String.raw`jobs\[0\]\.pruneBackups: .*` +
          '`retention: \\{ keep: \\{ last: 3, hourly: 0, daily: 7, weekly: 0, monthly: 0, yearly: 0 \\} \\}`',
      ),
    )
  })

  it('vzdump pruneBackups keep-all=1 → no retention: the agent deletes nothing (and PVE does not either)', () => {
    const cfg = parse(
      '  - { kind: vzdump, name: g, guests: [100], dumpdir: /d, media: hdd, pruneBackups: "keep-all=1" }\n',
    )
    assert.equal((cfg.jobs[0] as ResolvedVzdumpJob).retention, null)
    assert.match(cfg.warnings?.[0] ?? '', /no retention: the agent deletes nothing, and vzdump runs with --remove 0/)
  })

  it('refused: an old key beside retention:, or a value that means nothing — at the old key, saying what to do', () => {
    const cases: [string, RegExp][] = [
      [
        '  - kind: archive\n    name: etc\n    paths: [/etc]\n    destination: /b\n    media: hdd\n' +
          '    keepLast: 3\n    retention: { keep: { last: 3 } }\n',
        /agent\.yaml:8:\d+: jobs\[0\]\.keepLast: keepLast and retention are both set; delete keepLast/,
      ],
      [
        '  - { kind: vzdump, name: g, guests: [100], dumpdir: /d, media: hdd, pruneBackups: "keep-often=3" }\n',
        /jobs\[0\]\.pruneBackups: "keep-often=3" is not a prune-backups option; use e\.g\. "keep-last=3,keep-daily=7"/,
      ],
      ['  - { kind: rear, name: usb, keepRuns: 0 }\n', /jobs\[0\]\.keepRuns: must be a whole number from 1 to 100/],
    ]
    for (const [jobs, re] of cases) {
      assert.throws(
        () => parse(jobs),
        (e: unknown) => e instanceof ConfigError && re.test(e.message),
        jobs,
      )
    }
  })

  it('a config with only current keys has no warnings', () => {
    const cfg = parse('  - { kind: rear, name: usb, retention: { keep: { last: 3, monthly: 2 } } }\n')
    assert.deepEqual(cfg.warnings, [])
    assert.deepEqual((cfg.jobs[0] as ResolvedRearJob).retention.keep, { ...NONE, last: 3, monthly: 2 })
  })

  it('configcheck prints each warning on stderr and still exits 0; stdout stays the summary', async (t) => {
    const h = harness(t)
    writeFileSync(h.config, readFileSync(h.config, 'utf8').replace('retention: { keep: { last: 2 } }', 'keepLast: 2'))
    const r = await h.cli('configcheck', '--config', h.config, '--json')
    assert.equal(r.code, 0, r.err)
    assert.match(r.err, new RegExp(`^warning: ${h.config}:\\d+:\\d+: jobs\\[0\\]\\.keepLast: keepLast is replaced`))
    assert.equal(JSON.parse(r.out).jobs[0].name, 'etc')
  })
})
