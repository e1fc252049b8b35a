import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { secondHost } from '../support/netns.ts'
import { requirePlatform } from '../support/platform.ts'
import { agentBin, freePort } from '../support/processes.ts'
import { resticCli, resticReady, startResticServer } from '../support/restic-server.ts'
import { sshdReady, startSshd } from '../support/sshd.ts'
import { waitFor } from '../support/wait-for.ts'
import { zfsFuseReady } from '../support/zfs.ts'
import { fleet, type AssetRef, type Verdict } from './support/fleet.ts'

/**
 * Issue 13 "Done when": 3-2-1-1-0 with Backstop alone. pve1 (site home) holds a dataset on a zfs-fuse pool; its
 * `zfs` job snapshots it and replicates to a zfs pool on a USB disk that is then exported (unplugged); nas1, a
 * second agent with its own pool on its own disk, pulls the dataset over a real sshd whose key runs only pve1's
 * gate (`zfs send` of that dataset); pve1's `restic` job backs the dataset up from a snapshot into an encrypted
 * repository behind `rclone serve restic --append-only` on a second host (a network namespace at 198.51.100.x: a
 * server on loopback would be this host's storage, never a copy elsewhere) at another site. Real collector, real
 * agent binaries; what is asserted is what the collector's API says. Then (a) the repository is served without
 * --append-only, (b) the USB disk stays plugged in over a run, (c) nas1 shares the replicas over NFS: each time the
 * verdict drops exactly the claim that is no longer true, and once none is left the fourth "1" fails with a reason
 * naming every place; (d) with the share gone, a key pve1 holds authorized on nas1 (both daemons report their
 * keys) voids the pulled replica's immutability until the key is removed.
 */
const needs = {
  root: true,
  commands: ['zpool', 'zfs', 'restic', 'rclone', 'ssh-keyscan', 'ssh-keygen', 'ip', 'nsenter'],
  checks: [zfsFuseReady, sshdReady, resticReady],
}
const legs = ['copies', 'mediaTypes', 'offsite', 'offlineOrImmutable', 'verificationErrors']
const keep = { keep: { last: 5, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 } }

const rules = (v: Verdict): [string, number, number][] =>
  v.reasons
    .map((r): [string, number, number] => [r.code, r.actual, r.required])
    .sort((a, b) => a[0].localeCompare(b[0]))
const counts = (v: Verdict, keys: readonly string[]): Record<string, number | null | undefined> =>
  Object.fromEntries(keys.map((k) => [k, v.counts[k]]))
interface Place {
  locationKey: string
  role: string
  counted: boolean
  why: string
  offsite: boolean
  offline: boolean
  immutable: boolean
}
const claims = (p: Place): string =>
  `${p.counted ? 'counted' : 'not counted'} offsite=${p.offsite} offline=${p.offline} immutable=${p.immutable}`
const places = (v: Verdict): Place[] => v.raw.asset['places'] as Place[]
const placeOf = (v: Verdict, locationKey: string): Place => {
  const p = places(v).find((x) => x.locationKey === locationKey)
  assert.ok(p, `${locationKey}: not among the places ${JSON.stringify(places(v), null, 1)}`)
  return p
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const zfsGet = (prop: string, ds: string): string =>
  spawnSync('zfs', ['get', '-H', '-o', 'value', prop, ds], { encoding: 'utf8' }).stdout.trim()

/** `backstop-agent <args>` as an operator types it; its stdout. */
function agentCli(args: readonly string[]): string {
  const r = spawnSync(process.execPath, [agentBin, ...args], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(r.status, 0, `backstop-agent ${args.join(' ')}: ${r.stdout}${r.stderr}`)
  return r.stdout
}

describe('scenarios: 3-2-1-1-0 with Backstop alone', { timeout: 300_000 }, () => {
  it('pool, pulled replica, append-only restic, unplugged USB disk: compliant; each claim dropped', async (t) => {
    if (!requirePlatform(t, needs)) {
      return
    }
    const f = await fleet(t)
    const pve1 = f.node('pve1', { site: 'home' })
    const nas1 = f.node('nas1', { site: 'home' })
    const tank = pve1.zfsPool('tank', f.disk('pve1nvme'))
    const vm = tank.dataset('vm-100-disk-0')
    const usb = pve1.zfsUsbStick('usb')
    const nasPool = nas1.zfsPool('nas', f.disk('nas1hdd'))

    // nas1 logs in to pve1 with a key whose authorized_keys line runs only pve1's gate (`zfs send` of the dataset),
    // printed by `remote authorized-key`; nas1 pins pve1's host key with `remote pin`.
    const sshd = await startSshd(t, null)
    const line = agentCli([
      'remote',
      'authorized-key',
      ...['--key', `${sshd.identity}.pub`, '--zfs-send', vm, '--gate', agentBin],
    ])
    writeFileSync(join(sshd.dir, 'authorized_keys'), line, { mode: 0o600 })
    const knownHosts = join(f.dir, 'nas1-known_hosts')
    agentCli(['remote', 'pin', '127.0.0.1', '--port', String(sshd.port), '--known-hosts', knownHosts])
    assert.equal(readFileSync(knownHosts, 'utf8'), readFileSync(sshd.knownHosts, 'utf8'), 'the key pinned is sshd’s')

    // The offsite repository: encrypted (restic), append-only, its storage on a disk of its own.
    const port = await freePort()
    const offsiteDisk = f.disk('offsite')
    const office = secondHost(t)
    const server = await startResticServer(t, {
      appendOnly: true,
      port,
      dir: join(offsiteDisk.dir, 'repo'),
      on: office,
    })
    assert.ok(server.url.includes(office.address), `the repository is served from the second host: ${server.url}`)
    resticCli(server, ['init'], f.dir)

    pve1.job({
      kind: 'zfs',
      name: 'tank-usb',
      datasets: [vm],
      retention: keep,
      media: 'nvme',
      targets: [{ name: 'usb', dataset: `${usb.pool}/backstop`, media: 'usb', offline: true }],
    })
    pve1.job({
      kind: 'restic',
      name: 'offsite',
      source: { zfs: vm },
      repository: { url: server.url, site: 'offsite-a' },
      password: { file: server.passwordFile },
      retention: keep,
      checkGroups: 2,
    })
    nas1.job({
      kind: 'zfs-pull',
      name: 'pull-pve1',
      source: { url: `ssh://root@127.0.0.1:${sshd.port}`, identity: sshd.identity, knownHosts, node: 'pve1' },
      datasets: [vm],
      dataset: `${nasPool.pool}/pulled`,
      retention: keep,
      media: 'hdd',
    })
    const asset: AssetRef = { node: 'pve1', kind: 'zfs-dataset', id: vm }

    const ok = async (node: string, job: string): Promise<void> => {
      const r = await f.runJob(node, job)
      assert.equal(r.status, 'success', `${node} ${job}: ${JSON.stringify(r)}`)
    }
    await ok('pve1', 'tank-usb')
    await ok('nas1', 'pull-pve1')
    await ok('pve1', 'offsite')
    // Friday evening: the USB disk is exported and unplugged; the next run reports its copies as detached.
    usb.unplug()
    await ok('pve1', 'tank-usb')

    // Compliant: production plus three counted copies on three media, one offsite, three offline or immutable.
    const full = await f.collector.verdict(asset)
    assert.equal(full.status, 'compliant', JSON.stringify(full.reasons))
    assert.deepEqual(rules(full), [])
    assert.deepEqual(
      counts(full, legs),
      { copies: 4, mediaTypes: 3, offsite: 1, offlineOrImmutable: 3, verificationErrors: 0 },
      JSON.stringify(places(full)),
    )
    // Places are keyed `<holder>/<location kind>/<target>`: the pulled replica is at nas1, the others at pve1.
    const key = {
      production: `pve1/zfs-pool/${tank.pool}`,
      repository: `pve1/nas/${server.url}`,
      nas1: `nas1/zfs-pool/${nasPool.pool}`,
      usb: `pve1/zfs-pool/${usb.pool}`,
    }
    const claimsOf = (v: Verdict): Record<string, string> => ({
      repository: claims(placeOf(v, key.repository)),
      nas1: claims(placeOf(v, key.nas1)),
      usb: claims(placeOf(v, key.usb)),
    })
    assert.deepEqual(claimsOf(full), {
      repository: 'counted offsite=true offline=false immutable=true',
      nas1: 'counted offsite=false offline=false immutable=true',
      usb: 'counted offsite=false offline=true immutable=false',
    })
    assert.equal(placeOf(full, key.production).role, 'version', 'the snapshots beside the data: a version')
    // The replica nas1 pulled is pve1's copy, held by nas1, its id in nas1's namespace.
    const held = (await f.collector.copies(asset)).filter((c) => c['heldBy'] === 'nas1')
    assert.ok(held.length > 0, 'the pulled replica is listed under pve1’s dataset, held by nas1')
    for (const c of held) {
      assert.match(String(c['copyId']), new RegExp(`^nas1:zfs:${nasPool.pool}/pulled/${vm}@backstop_`))
    }
    const asNas1Asset = { node: 'nas1', kind: 'zfs-dataset', id: `${nasPool.pool}/pulled/${vm}` } as const
    assert.deepEqual(await f.collector.copies(asNas1Asset), [], 'nas1 gets no asset of its own from the pull')

    // (a) The repository host is reconfigured: the same repository served without --append-only. The next run's
    // probe is accepted, so the repository's copies lose the immutable claim and immutability-lost fires.
    server.stop()
    const reopened = { appendOnly: false, port, dir: server.dir, passwordFile: server.passwordFile, on: office }
    await startResticServer(t, reopened)
    const unprotected = await f.runJob('pve1', 'offsite')
    assert.equal(
      unprotected.status,
      'partial',
      `the backup ran, its protection is gone: ${JSON.stringify(unprotected)}`,
    )
    const a = await f.collector.verdict(asset)
    assert.deepEqual(claimsOf(a), {
      repository: 'counted offsite=true offline=false immutable=false',
      nas1: 'counted offsite=false offline=false immutable=true',
      usb: 'counted offsite=false offline=true immutable=false',
    })
    assert.deepEqual(
      counts(a, legs),
      { copies: 4, mediaTypes: 3, offsite: 1, offlineOrImmutable: 2, verificationErrors: 0 },
      'only the repository’s immutable claim is gone: it is still a counted offsite copy',
    )
    assert.equal(a.status, 'compliant', 'the USB disk and the pulled replica still fill the fourth "1"')
    const alerts = await f.collector.alerts('pve1')
    const lost = alerts.find((x) => x.kind === 'immutability-lost')
    assert.ok(lost, JSON.stringify(alerts))
    assert.deepEqual([lost.key, lost.state, lost.severity], ['immutability-lost/pve1/offsite', 'firing', 'critical'])
    assert.match(lost.summary, /no longer (count as immutable|refuses deletion)/)

    // (b) The USB disk is plugged back in and stays plugged in over a run: online, its offline claim is gone.
    usb.plugIn()
    await ok('pve1', 'tank-usb')
    const b = await f.collector.verdict(asset)
    assert.deepEqual(claimsOf(b), {
      repository: 'counted offsite=true offline=false immutable=false',
      nas1: 'counted offsite=false offline=false immutable=true',
      usb: 'counted offsite=false offline=false immutable=false',
    })
    assert.deepEqual(counts(b, legs), {
      copies: 4,
      mediaTypes: 3,
      offsite: 1,
      offlineOrImmutable: 1,
      verificationErrors: 0,
    })
    assert.equal(b.status, 'compliant', 'the pulled replica alone fills the fourth "1" now')

    // (c) nas1's admin shares the replicas' root over NFS (zfs-fuse sets the property though it finds no exportfs):
    // the pulled replica is not proven immutable any more, the fourth "1" is empty and the reason names every place.
    spawnSync('zfs', ['set', 'sharenfs=on', `${nasPool.pool}/pulled`])
    assert.equal(zfsGet('sharenfs', `${nasPool.pool}/pulled`), 'on')
    await ok('nas1', 'pull-pve1')
    const c = await f.collector.verdict(asset)
    assert.equal(c.status, 'non-compliant')
    assert.deepEqual(rules(c), [['no-offline-or-immutable', 0, 1]], JSON.stringify(c.reasons))
    assert.deepEqual(claimsOf(c), {
      repository: 'counted offsite=true offline=false immutable=false',
      nas1: 'counted offsite=false offline=false immutable=false',
      usb: 'counted offsite=false offline=false immutable=false',
    })
    const why = c.reasons[0]!
    assert.deepEqual([...(why.copies ?? [])].sort(), Object.values(key).sort(), 'the reason is about every place')
    for (const [where, said] of [
      [server.url, '\\(online\\)'],
      [nasPool.pool, '\\(online, protected against accidents only \\(zfs-hold\\)\\)'],
      [usb.pool, '\\(online, protected against accidents only \\(zfs-hold\\)\\)'],
    ] as const) {
      assert.match(
        why.message,
        new RegExp(`${escape(where)}[^;]*${said}`),
        `the reason says why ${where} does not count`,
      )
    }

    // (d) The share is removed and the next pull proves the replica again. Then nas1's admin authorizes a key pve1
    // holds (a shortcut for copying files): pve1 could log in to nas1 and destroy the replica. Both daemons report
    // their keys in their start-up inventories; the replica loses its immutable claim, and gets it back once the key
    // is gone from nas1's authorized_keys and nas1's next inventory says so.
    spawnSync('zfs', ['set', 'sharenfs=off', `${nasPool.pool}/pulled`])
    await ok('nas1', 'pull-pve1')
    assert.equal(
      claims(placeOf(await f.collector.verdict(asset), key.nas1)),
      'counted offsite=false offline=false immutable=true',
    )
    const pve1Key = join(f.dir, 'pve1-admin-key')
    assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', pve1Key]).status, 0)
    const nas1Authorized = join(f.dir, 'nas1-authorized_keys')
    writeFileSync(nas1Authorized, readFileSync(`${pve1Key}.pub`), { mode: 0o600 })
    pve1.configure({ sshKeys: { own: [pve1Key], authorized: [] } })
    nas1.configure({ sshKeys: { own: [sshd.identity], authorized: [nas1Authorized] } })
    await pve1.start()
    await nas1.start()
    const nas1Immutable = (want: boolean) => async (): Promise<Verdict | false> => {
      const v = await f.collector.verdict(asset)
      return placeOf(v, key.nas1).immutable === want && v
    }
    const d = await waitFor(nas1Immutable(false), {
      what: 'the authorized key voids the pull replica',
      timeoutMs: 60_000,
    })
    assert.equal(claims(placeOf(d, key.nas1)), 'counted offsite=false offline=false immutable=false')
    assert.deepEqual(rules(d), [['no-offline-or-immutable', 0, 1]], JSON.stringify(d.reasons))
    assert.match(d.reasons[0]!.message, /not immutable: an ssh key the source node holds is authorized on nas1/)
    writeFileSync(nas1Authorized, '', { mode: 0o600 })
    await nas1.stop()
    await nas1.start()
    const e = await waitFor(nas1Immutable(true), { what: 'the key removed: proven again', timeoutMs: 60_000 })
    assert.equal(e.status, 'compliant', JSON.stringify(e.reasons))
  })
})
