import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { locatorOf, storageSpecOf } from '../../../src/jobs/job-storage.ts'
import { displayUrl, resolveResticJob, type ResticJobInput } from '../../../src/jobs/restic/config.ts'
import { sftpCommand } from '../../../src/jobs/restic/restic-cli.ts'
import { kibPerSecond } from '../../../src/jobs/restic/bandwidth.ts'
import {
  judgeDeleteStatus,
  probeAppendOnly,
  restEndpoint,
  type FetchLike,
} from '../../../src/jobs/restic/immutability-probe.ts'
import { probeObjectLock } from '../../../src/jobs/restic/s3-lock-probe.ts'
import { readResticState, rotate, writeResticState } from '../../../src/jobs/restic/state.ts'

const base: ResticJobInput = {
  kind: 'restic',
  name: 'off',
  paths: ['/etc'],
  repository: { url: 'rest:https://bk:s3cret@nas.example:8000/pve1/', site: 'b' },
  password: { file: '/etc/backstop/restic.pw' },
}

describe('restic config', () => {
  it('never shows REST credentials: display URL and the copies location target drop user:password@', () => {
    assert.equal(displayUrl('rest:https://bk:s3cret@nas.example:8000/pve1/'), 'rest:https://nas.example:8000/pve1/')
    assert.equal(displayUrl('sftp:bk@nas.example:/srv/restic'), 'sftp:bk@nas.example:/srv/restic')
    const cfg = resolveResticJob(base, 'UTC')
    assert.equal(cfg.repository.display, 'rest:https://nas.example:8000/pve1/')
    assert.equal(cfg.repository.backend, 'rest')
    assert.equal(cfg.repository.media, 'nas')
    assert.equal(cfg.site, 'b')
    assert.equal(cfg.checkGroups, 12)
    assert.equal(
      resolveResticJob({ ...base, repository: { url: 's3:https://s3.example/b' } }, 'UTC').repository.media,
      'object',
    )
  })

  it("an sftp repository needs the pinned ssh endpoint; its sftp.command is the shared layer's pinned ssh", () => {
    const url = 'sftp:bk@nas.example:/srv/restic'
    assert.throws(
      () => resolveResticJob({ ...base, repository: { url } }, 'UTC'),
      /repository\.ssh: an sftp repository/,
    )
    const ssh = { identity: '/etc/backstop/id', knownHosts: '/etc/backstop/kh', port: 2222 }
    const cfg = resolveResticJob({ ...base, repository: { url, ssh } }, 'UTC')
    assert.deepEqual(cfg.repository.ssh, { ...ssh, user: 'bk', host: 'nas.example' })
    const cmd = sftpCommand(cfg.repository.ssh!)
    assert.match(
      cmd,
      /^ssh -i \/etc\/backstop\/id -p 2222 -l bk .*StrictHostKeyChecking=yes .* -s -- nas\.example sftp$/,
    )
    assert.match(cmd, /UserKnownHostsFile=\/etc\/backstop\/kh/)
  })

  it('a path listed twice is a config error naming the field', () => {
    assert.throws(
      () => resolveResticJob({ ...base, paths: ['/a', '/a'] }, 'UTC'),
      /jobs\.off\.paths: a path is listed twice/,
    )
  })

  it('the repository is its own failure domain: restic:<id> at the URL host, at the configured site', () => {
    const cfg = resolveResticJob(base, 'UTC')
    const spec = storageSpecOf(cfg)
    assert.deepEqual(spec.targets[0], { kind: 'nas', at: cfg.repository.display, hints: { site: 'b', media: 'nas' } })
    const loc = { kind: 'nas' as const, target: cfg.repository.display, device: { id: `restic:${'c'.repeat(64)}` } }
    assert.deepEqual(locatorOf(loc), { kind: 'remote', host: 'nas.example', repository: `restic:${'c'.repeat(64)}` })
    const sftp = { kind: 'nas' as const, target: 'sftp:bk@10.0.0.9:/srv/r', device: { id: 'restic:x' } }
    assert.deepEqual(locatorOf(sftp), { kind: 'remote', host: '10.0.0.9', repository: 'restic:x' })
  })
})

describe('restic window and bandwidth', () => {
  it('every schedule slot must fall inside the window; the first one outside is named', () => {
    const cfg = resolveResticJob({ ...base, schedule: '30 2 * * *', window: '01:00-05:00' }, 'Europe/Amsterdam')
    assert.deepEqual(cfg.window, { startMin: 60, endMin: 300, timezone: 'Europe/Amsterdam', text: '01:00-05:00' })
    assert.throws(
      () => resolveResticJob({ ...base, schedule: '0 * * * *', window: '01:00-05:00' }, 'UTC'),
      /jobs\.off\.schedule: "0 \* \* \* \*" fires at 05:00, outside window 01:00-05:00 \(UTC\)/,
    )
    // Crossing midnight, in the job's own zone.
    const night = { ...base, schedule: '0 23,1 * * *', timezone: 'America/New_York', window: '22:00-02:00' }
    assert.equal(resolveResticJob(night, 'UTC').window?.timezone, 'America/New_York')
    assert.throws(() => resolveResticJob({ ...base, window: '5-6' }, 'UTC'), /jobs\.off\.window: "5-6" is not a time/)
    assert.equal(resolveResticJob(base, 'UTC').window, undefined)
  })

  it('bandwidth becomes KiB/s for restic: 1024-based suffixes, bare bytes rounded up, never 0', () => {
    assert.deepEqual(['512K', '10M', '1G', '1500', '1'].map(kibPerSecond), [512, 10240, 1048576, 2, 1])
    assert.equal(resolveResticJob({ ...base, bandwidth: '20M' }, 'UTC').limitKiBps, 20480)
    assert.equal(resolveResticJob(base, 'UTC').limitKiBps, null)
  })
})

describe('append-only probe', () => {
  it('403 proves append-only; 200/204/404 mean the delete was allowed; anything else proves nothing', () => {
    assert.equal(judgeDeleteStatus(403), 'append-only')
    for (const s of [200, 204, 404]) {
      assert.equal(judgeDeleteStatus(s), 'deletable')
    }
    for (const s of [401, 405, 500, 502]) {
      assert.equal(judgeDeleteStatus(s), 'unknown')
    }
  })

  it('sends DELETE data/<64 hex> with the URL credentials as Basic auth, never in the URL', async () => {
    const ep = restEndpoint('rest:https://bk:s3cret@nas.example:8000/pve1')
    assert.deepEqual(ep, {
      base: 'https://nas.example:8000/pve1/',
      headers: { authorization: `Basic ${Buffer.from('bk:s3cret').toString('base64')}` },
    })
    const seen: { url: string; method: string; headers: Record<string, string> }[] = []
    const fake: FetchLike = async (url, init) => {
      seen.push({ url, method: init.method, headers: init.headers })
      return { status: 403 }
    }
    const r = await probeAppendOnly(resolveResticJob(base, 'UTC'), fake)
    assert.equal(r.state, 'append-only')
    assert.equal(seen.length, 1)
    assert.equal(seen[0]!.method, 'DELETE')
    assert.match(seen[0]!.url, /^https:\/\/nas\.example:8000\/pve1\/data\/[0-9a-f]{64}$/)
    assert.doesNotMatch(r.detail, /s3cret/)
  })

  it('no answer and sftp are unknown: never immutable; s3 is probed for object lock instead', async () => {
    const down: FetchLike = () => Promise.reject(new Error('connect ECONNREFUSED'))
    assert.equal((await probeAppendOnly(resolveResticJob(base, 'UTC'), down)).state, 'unknown')
    const ssh = { identity: '/etc/backstop/id', knownHosts: '/etc/backstop/known_hosts' }
    const sftp = resolveResticJob({ ...base, repository: { url: 'sftp:bk@nas:/srv/r', ssh } }, 'UTC')
    assert.equal((await probeAppendOnly(sftp, down)).state, 'unknown')
    const s3 = resolveResticJob({ ...base, repository: { url: 's3:https://s3.example/b' } }, 'UTC')
    assert.equal((await probeAppendOnly(s3, down)).state, 'unknown')
    const locked = await probeObjectLock(s3, {}, new Date(), () => Promise.reject(new Error('not asked')))
    assert.equal(locked.state, 'unknown')
    assert.match(locked.detail, /AWS_ACCESS_KEY_ID/)
  })
})

describe('check rotation state', () => {
  it('walks 1..N and wraps; a changed group count restarts at 1; it survives a restart (written durably)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-restic-state-'))
    try {
      let s = await readResticState(dir)
      const seen: number[] = []
      for (let i = 0; i < 4; i++) {
        const r = rotate(s, 3)
        seen.push(r.group)
        s = r.next
        await writeResticState(dir, s)
        s = await readResticState(dir)
      }
      assert.deepEqual(seen, [1, 2, 3, 1])
      assert.equal(rotate(s, 5).group, 1)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
