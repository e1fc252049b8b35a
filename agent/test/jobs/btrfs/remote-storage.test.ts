import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Copy } from '@backstop/shared'
import { FixtureExec } from '../../../src/exec/fixture-exec.ts'
import { resolveBtrfsJob } from '../../../src/jobs/btrfs/config.ts'
import type { JobResult } from '../../../src/jobs/job.ts'
import { describeStorage, storageSpecOf } from '../../../src/jobs/job-storage.ts'
import { StorageProber } from '../../../src/storage/probe.ts'

const job = resolveBtrfsJob(
  {
    kind: 'btrfs',
    name: 'home',
    media: 'ssd',
    subvolumes: ['/mnt/btr/home'],
    snapshotDir: '/mnt/btr/.snapshots',
    targets: [
      {
        name: 'nas',
        url: 'ssh://backstop@nas.example.net:2222/mnt/backup/pve1',
        identity: '/etc/backstop/ssh/id_ed25519',
        knownHosts: '/etc/backstop/ssh/known_hosts',
        media: 'hdd',
        site: 'office',
      },
    ],
  },
  'UTC',
)

test('an ssh target resolves to its endpoint and the directory there', () => {
  const t = job.targets[0]!
  assert.equal(t.path, '/mnt/backup/pve1')
  assert.deepEqual(t.ssh, {
    user: 'backstop',
    host: 'nas.example.net',
    port: 2222,
    identity: '/etc/backstop/ssh/id_ed25519',
    knownHosts: '/etc/backstop/ssh/known_hosts',
  })
})

test('a replica over ssh is stored on the remote host at the target’s site, not probed as a local path', async () => {
  const replica: Copy = {
    copyId: 'btrfs:nas.example.net:/mnt/backup/pve1/home@backstop_20261110T000000Z_hdwmy',
    asset: { kind: 'btrfs-subvolume', id: '/mnt/btr/home' },
    location: { kind: 'btrfs-fs', target: 'nas.example.net:/mnt/backup', device: { id: '/dev/sdb1' } },
    name: '/mnt/backup/pve1/home@backstop_20261110T000000Z_hdwmy',
    media: 'hdd',
    offsite: false,
    offline: false,
    immutable: true,
    createdAt: '2026-11-10T00:00:00.000Z',
    verification: { state: 'verified', at: '2026-11-10T00:00:00.000Z', method: 'btrfs-received-uuid' },
  }
  const result: JobResult = { status: 'success', copies: [replica], deleted: [], warnings: [] }
  // No command may run: a local probe of "nas.example.net:/mnt/backup" would be a bug.
  const prober = new StorageProber(new FixtureExec([]), 'pve1', 'home')
  const r = await describeStorage(result, storageSpecOf(job), prober)
  assert.deepEqual(r.copies[0]!.storage, {
    host: 'nas.example.net',
    site: 'office',
    devices: [],
    repository: 'btrfs:nas.example.net:/mnt/backup',
    media: 'hdd',
    protections: ['btrfs-readonly'],
  })
})

test('a btrfs target takes path: or url:, not both, and ssh fields only with url:', () => {
  const base = { kind: 'btrfs' as const, name: 'h', media: 'ssd' as const, subvolumes: ['/a'], snapshotDir: '/s' }
  const t = { name: 'nas', media: 'hdd' as const }
  assert.throws(
    () => resolveBtrfsJob({ ...base, targets: [{ ...t, path: '/x', url: 'ssh://u@h/x' }] }, 'UTC'),
    /jobs\.h\.targets\[0\]: give path: .* or url: ssh:\/\/user@host\/dir .*exactly one/,
  )
  assert.throws(
    () => resolveBtrfsJob({ ...base, targets: [{ ...t, path: '/x', knownHosts: '/k' }] }, 'UTC'),
    /identity: and knownHosts: belong to a url: ssh:\/\/… target/,
  )
  assert.throws(
    () => resolveBtrfsJob({ ...base, targets: [{ ...t, url: 'ssh://u@h/x' }] }, 'UTC'),
    /needs identity: .* and knownHosts: .*backstop-agent remote pin h --port 22/,
  )
  assert.throws(
    () =>
      resolveBtrfsJob(
        { ...base, targets: [{ ...t, url: 'ssh://u@h/x/../etc', identity: '/i', knownHosts: '/k' }] },
        'UTC',
      ),
    /url: "ssh:\/\/u@h\/x\/\.\.\/etc" has the directory .* normal absolute directory/,
  )
})
