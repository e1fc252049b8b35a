import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FixtureExec } from '../../src/exec/fixture-exec.ts'
import { locatorOf } from '../../src/jobs/job-storage.ts'
import { isLoopbackHost } from '../../src/storage/loopback.ts'
import { StorageProber } from '../../src/storage/probe.ts'
import { recorded } from './recorded.ts'

// Issue 11: a push to localhost counted as a copy on "another host". A target on this machine burns with it and may
// sit on its disks, so it is probed (or, where nothing can be probed, reported) as this host's storage.

test('loopback names and addresses are this host; other names are not', () => {
  for (const h of ['localhost', 'LOCALHOST', '127.0.0.1', '127.1.2.3', '::1', '[::1]', '::ffff:127.0.0.1', '0.0.0.0']) {
    assert.equal(isLoopbackHost(h), true, h)
  }
  for (const h of ['nas9', '192.0.2.2', '10.127.0.1', '127.0.0.1.example.net', 'localhost2', '[2001:db8::1]']) {
    assert.equal(isLoopbackHost(h), false, h)
  }
})

test('an ssh target on a loopback host is probed as the local pool or path it is', () => {
  assert.deepEqual(locatorOf({ kind: 'zfs-pool', target: '127.0.0.1:backup/x' }), {
    kind: 'zfs-pool',
    pool: 'backup',
    via: '127.0.0.1',
  })
  assert.deepEqual(locatorOf({ kind: 'btrfs-fs', target: 'localhost:/mnt/b' }), {
    kind: 'path',
    path: '/mnt/b',
    via: 'localhost',
  })
  assert.deepEqual(locatorOf({ kind: 'btrfs-fs', target: '/mnt/a:b' }), { kind: 'path', path: '/mnt/a:b' })
  assert.deepEqual(locatorOf({ kind: 'zfs-pool', target: 'nas9:tank' }), {
    kind: 'remote',
    host: 'nas9',
    repository: 'zfs:nas9:tank',
  })
  assert.deepEqual(locatorOf({ kind: 'btrfs-fs', target: 'nas9:/mnt/b' }), {
    kind: 'remote',
    host: 'nas9',
    repository: 'btrfs:nas9:/mnt/b',
  })
})

test('a repository in a local directory is probed as that directory; one served over the network stays remote', () => {
  const restic = (target: string) => locatorOf({ kind: 'nas', target, device: { id: 'restic:4f2a' } })
  assert.deepEqual(restic('/srv/restic'), { kind: 'path', path: '/srv/restic' })
  assert.deepEqual(restic('sftp:root@127.0.0.1:/srv/restic'), { kind: 'path', path: '/srv/restic', via: '127.0.0.1' })
  assert.deepEqual(restic('sftp:root@nas9:/srv/restic'), { kind: 'remote', host: 'nas9', repository: 'restic:4f2a' })
  assert.deepEqual(restic('rest:http://127.0.0.1:8000/'), {
    kind: 'remote',
    host: '127.0.0.1',
    repository: 'restic:4f2a',
  })
})

test('a repository served from this host is this node’s storage at its site, whatever config says', async () => {
  // No command may run: there is nothing local to probe behind a REST URL.
  const prober = new StorageProber(new FixtureExec([]), 'pve1', 'home')
  const served = await prober.probe(
    { kind: 'remote', host: '127.0.0.1', repository: 'restic:4f2a' },
    { site: 'offsite-a', media: 'nas' },
  )
  assert.deepEqual(served.storage, { host: 'pve1', site: 'home', devices: [], repository: 'restic:4f2a', media: 'nas' })
  assert.deepEqual(served.warnings, [
    "restic:4f2a: served from this host (127.0.0.1): its site is this node's (home), not offsite-a",
  ])
  const byName = await prober.probe({ kind: 'remote', host: 'PVE1', repository: 'zfs:pve1:tank' }, {})
  assert.equal(byName.storage.host, 'pve1')
  assert.deepEqual(byName.warnings, [])
  const away = await prober.probe({ kind: 'remote', host: 'nas9', repository: 'restic:4f2a' }, { site: 'office' })
  assert.deepEqual(away.storage, { host: 'nas9', site: 'office', devices: [], repository: 'restic:4f2a', media: 'nas' })
})

test('a zfs push to 127.0.0.1 reports the local pool’s devices, at this node’s site', async () => {
  const prober = new StorageProber(recorded(), 'h1', 'home')
  const at = locatorOf({ kind: 'zfs-pool', target: '127.0.0.1:bkh7pb' })
  const pushed = await prober.probe(at, { media: 'hdd', site: 'office' })
  const local = await prober.probe({ kind: 'zfs-pool', pool: 'bkh7pb' }, { media: 'hdd' })
  assert.deepEqual(pushed.storage, local.storage)
  assert.equal(pushed.storage.host, 'h1')
  assert.equal(pushed.storage.site, 'home')
  assert.ok(pushed.storage.devices.length > 0)
  assert.deepEqual(pushed.warnings, [
    "pool bkh7pb: served from this host (127.0.0.1): its site is this node's (home), not office",
  ])
})
