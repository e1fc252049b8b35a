import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  defaultTierPolicies,
  evaluateAsset,
  type AssetFacts,
  type LedgerCopy,
  type StorageDevice,
  type StorageIdentity,
  type VerdictReasonCode,
} from '@backstop/shared'

// Realistic fleets from issue 11: a Proxmox node "pve1" at site "home" whose live data is on rpool (one NVMe).
const NOW = Date.parse('2026-12-05T06:00:00Z')
const H = 3600_000
const nvme: StorageDevice = { id: 'wwn:0x5002538e4000aaaa', transport: 'nvme', rotational: false }
const hdd2: StorageDevice = { id: 'serial:WD-WX22D', transport: 'sata', rotational: true }
const usbDisk: StorageDevice = { id: 'serial:USB-STICK-1', transport: 'usb', removable: true }
const at = (o: Partial<StorageIdentity>): StorageIdentity => ({
  host: 'pve1',
  site: 'home',
  devices: [],
  media: 'hdd',
  ...o,
})
const rpool = at({ devices: [nvme], fsUuid: '1111', media: 'nvme' })
const asset: AssetFacts = {
  tier: 'standard',
  lifecycle: 'active',
  productionLocationKey: 'pve1/zfs-pool/rpool',
  productionStorage: rpool,
}

let n = 0
function copy(locationKey: string, storage: StorageIdentity | undefined, o: Partial<LedgerCopy> = {}): LedgerCopy {
  n++
  return {
    copyId: `c${n}`,
    name: `autosnap_${n}`,
    locationKey,
    media: storage?.media ?? 'hdd',
    offsite: false,
    offline: false,
    immutable: false,
    createdAt: NOW - 2 * H,
    verification: 'verified',
    storage,
    ...o,
  }
}
const snap = (o: Partial<LedgerCopy> = {}) => copy('pve1/zfs-pool/rpool', rpool, o)
/** A second pool whose vdev is a file on rpool's filesystem: the agent reports rpool's disk beneath it. */
const samediskPool = at({ devices: [{ id: 'loop:rpool-fs:/rpool/backup.img', transport: 'loop' }, nvme], fsUuid: '2' })
const secondDisk = at({ devices: [hdd2], fsUuid: '3333' })
const usbAttached = at({ devices: [usbDisk], fsUuid: 'usb-1', media: 'usb', attached: true })
const usbDetached = at({ devices: [], fsUuid: 'usb-1', media: 'usb', attached: false })
const nas = at({ host: 'nas2', site: 'office', devices: [{ id: 'serial:NAS-A', transport: 'sata' }], media: 'nas' })
const remote = (host: string, repository: string): StorageIdentity =>
  at({ host, site: 'office', devices: [], repository, media: 'nas' })
const pulled = at({
  ...nas,
  immutability: { kind: 'pull-replica', probedAt: new Date(NOW - H).toISOString() },
})
const held = at({ devices: [hdd2], fsUuid: '3333', protections: ['zfs-hold'] })
const lock = (retainUntil: number): StorageIdentity =>
  at({
    host: 's3.eu.example',
    site: 'cloud',
    media: 'object',
    repository: 's3.eu.example/backstop-pve1',
    immutability: {
      kind: 'object-lock',
      probedAt: new Date(NOW - H).toISOString(),
      retainUntil: new Date(retainUntil).toISOString(),
    },
  })

interface Case {
  name: string
  copies: LedgerCopy[]
  facts?: Partial<AssetFacts>
  counts: { copies: number; offsite: number; offlineOrImmutable: number; versions: number }
  reasons: VerdictReasonCode[]
  /** Substrings some reason must contain: the copies and the rule it names. */
  says?: string[]
}

const cases: Case[] = [
  {
    name: 'all copies on the production pool: one copy, every snapshot a version',
    copies: [snap(), snap({ createdAt: NOW - H }), snap({ offsite: true, offline: true, immutable: true })],
    counts: { copies: 1, offsite: 0, offlineOrImmutable: 0, versions: 1 },
    reasons: ['too-few-copies', 'too-few-media', 'no-offsite', 'no-offline-or-immutable', 'stale'],
    says: ['pve1/zfs-pool/rpool', 'version: on the production storage (dev:wwn:0x5002538e4000aaaa)'],
  },
  {
    name: 'replica on a second disk that is always attached: two copies, not offline',
    copies: [snap(), copy('pve1/zfs-pool/backup', secondDisk, { offline: true })],
    counts: { copies: 2, offsite: 0, offlineOrImmutable: 0, versions: 1 },
    reasons: ['too-few-copies', 'no-offsite', 'no-offline-or-immutable'],
    says: ['pve1/zfs-pool/backup', 'online'],
  },
  {
    name: 'replica on a second pool on the same disk: not counted',
    copies: [snap(), copy('pve1/zfs-pool/backup', samediskPool)],
    counts: { copies: 1, offsite: 0, offlineOrImmutable: 0, versions: 2 },
    reasons: ['too-few-copies', 'too-few-media', 'no-offsite', 'no-offline-or-immutable', 'stale'],
    says: ['pve1/zfs-pool/backup [autosnap_', 'version: on the production storage'],
  },
  {
    name: 'USB disk always plugged in: an online copy, however removable',
    copies: [copy('pve1/usb/usb-1', usbAttached, { offline: true })],
    counts: { copies: 2, offsite: 0, offlineOrImmutable: 0, versions: 0 },
    reasons: ['too-few-copies', 'no-offsite', 'no-offline-or-immutable'],
  },
  {
    name: 'USB disk pulled from pve1 and plugged into pve2 (pve2’s inventory lists it): online, not offline',
    copies: [copy('pve1/zfs-pool/backup', secondDisk), copy('pve1/usb/usb-1', usbDetached)],
    facts: { mediaSeen: { 'usb-1': [{ node: 'pve2', at: NOW - H }] } },
    counts: { copies: 3, offsite: 0, offlineOrImmutable: 0, versions: 0 },
    reasons: ['no-offsite', 'no-offline-or-immutable'],
    says: ['pve1/usb/usb-1 [autosnap_', 'online: plugged into pve2'],
  },
  {
    name: 'USB disk seen in pve1’s own inventory before the run that found it detached: offline',
    copies: [copy('pve1/zfs-pool/backup', secondDisk), copy('pve1/usb/usb-1', usbDetached)],
    facts: { mediaSeen: { 'usb-1': [{ node: 'pve1', at: NOW - 3 * H }] } },
    counts: { copies: 3, offsite: 0, offlineOrImmutable: 1, versions: 0 },
    reasons: ['no-offsite'],
  },
  {
    name: 'USB disk seen in pve2, then recorded carried to the office: where the record says, offsite and offline',
    copies: [copy('pve1/zfs-pool/backup', secondDisk), copy('pve1/usb/usb-1', usbDetached)],
    facts: {
      mediaSeen: { 'usb-1': [{ node: 'pve2', at: NOW - 3 * H }] },
      mediumSites: { 'usb-1': { site: 'office', recordedAt: NOW - H } },
    },
    counts: { copies: 3, offsite: 1, offlineOrImmutable: 1, versions: 0 },
    reasons: [],
  },
  {
    name: 'USB disk rotated to the office and detached: offsite and offline',
    copies: [copy('pve1/zfs-pool/backup', secondDisk), copy('pve1/usb/usb-1', usbDetached)],
    facts: { mediumSites: { 'usb-1': { site: 'office', recordedAt: NOW - H } } },
    counts: { copies: 3, offsite: 1, offlineOrImmutable: 1, versions: 0 },
    reasons: [],
  },
  {
    name: 'USB disk last seen plugged in, then recorded at the office: away from its host, so offsite and offline',
    copies: [
      copy('pve1/zfs-pool/backup', secondDisk),
      copy('pve1/usb/usb-1', usbAttached, { reportedAt: NOW - 3 * H }),
    ],
    facts: { mediumSites: { 'usb-1': { site: 'office', recordedAt: NOW - 2 * H } } },
    counts: { copies: 3, offsite: 1, offlineOrImmutable: 1, versions: 0 },
    reasons: [],
  },
  {
    name: 'USB disk brought back and seen plugged in after the rotation record: at home and online again',
    copies: [copy('pve1/zfs-pool/backup', secondDisk), copy('pve1/usb/usb-1', usbAttached, { reportedAt: NOW - H })],
    facts: { mediumSites: { 'usb-1': { site: 'office', recordedAt: NOW - 2 * H } } },
    counts: { copies: 3, offsite: 0, offlineOrImmutable: 0, versions: 0 },
    reasons: ['no-offsite', 'no-offline-or-immutable'],
    says: ['pve1/usb/usb-1 [autosnap_', 'same site as production: site home'],
  },
  {
    name: 'a fixed disk recorded at another site is offsite there, never offline',
    copies: [copy('pve1/zfs-pool/backup', secondDisk)],
    facts: { mediumSites: { '3333': { site: 'office', recordedAt: NOW - 2 * H } } },
    counts: { copies: 2, offsite: 1, offlineOrImmutable: 0, versions: 0 },
    reasons: ['too-few-copies', 'no-offline-or-immutable'],
  },
  {
    name: 'USB disk detached but still at home: offline, not offsite',
    copies: [copy('pve1/zfs-pool/backup', secondDisk), copy('pve1/usb/usb-1', usbDetached)],
    counts: { copies: 3, offsite: 0, offlineOrImmutable: 1, versions: 0 },
    reasons: ['no-offsite'],
    says: ['pve1/usb/usb-1 [autosnap_', 'same site as production: site home'],
  },
  {
    name: 'held snapshots only: protected against accidents, never offline or immutable',
    copies: [copy('pve1/zfs-pool/backup', held), copy('nas2/zfs-pool/backup', nas)],
    counts: { copies: 3, offsite: 1, offlineOrImmutable: 0, versions: 0 },
    reasons: ['no-offline-or-immutable'],
    says: ['protected against accidents only (zfs-hold)'],
  },
  {
    name: 'object lock retained until next month: immutable and offsite',
    copies: [copy('pve1/zfs-pool/backup', secondDisk), copy('s3/backstop-pve1', lock(NOW + 30 * 24 * H))],
    counts: { copies: 3, offsite: 1, offlineOrImmutable: 1, versions: 0 },
    reasons: [],
  },
  {
    name: 'object lock whose retain-until has passed: offsite, no longer immutable',
    copies: [copy('pve1/zfs-pool/backup', secondDisk), copy('s3/backstop-pve1', lock(NOW - H))],
    counts: { copies: 3, offsite: 1, offlineOrImmutable: 0, versions: 0 },
    reasons: ['no-offline-or-immutable'],
    says: ['s3/backstop-pve1 [autosnap_', 'online'],
  },
  {
    name: 'two replicas on the same second disk count once',
    copies: [copy('pve1/zfs-pool/backup', secondDisk), copy('pve1/btrfs/backup', at({ devices: [hdd2], fsUuid: '4' }))],
    counts: { copies: 2, offsite: 0, offlineOrImmutable: 0, versions: 0 },
    reasons: ['too-few-copies', 'no-offsite', 'no-offline-or-immutable'],
    says: ['not counted: shares dev:serial:WD-WX22D with counted copy'],
  },
  {
    name: 'two remote pools on one host, whose disks the agent cannot see, count once',
    copies: [
      copy('pve1/zfs-pool/backup', secondDisk),
      copy('pve1/zfs-pool/nas9:tank', remote('nas9', 'zfs:nas9:tank')),
      copy('pve1/zfs-pool/nas9:tank2', remote('NAS9', 'zfs:nas9:tank2')),
    ],
    counts: { copies: 3, offsite: 1, offlineOrImmutable: 0, versions: 0 },
    reasons: ['no-offline-or-immutable'],
    says: ['(online, not counted)'],
  },
  {
    name: 'a restic repository and a replica served by the same remote host count once',
    copies: [
      copy('pve1/zfs-pool/nas9:tank', remote('nas9', 'zfs:nas9:tank')),
      copy('pve1/restic/nas9', remote('nas9', 'restic:4f2a')),
    ],
    counts: { copies: 2, offsite: 1, offlineOrImmutable: 0, versions: 0 },
    reasons: ['too-few-copies', 'no-offline-or-immutable'],
    says: ['not counted: shares host:nas9 with counted copy pve1/restic/nas9'],
  },
  {
    name: 'a repository served from production’s own host (restic on localhost) does not count: it may share its disks',
    copies: [
      copy('pve1/zfs-pool/backup', secondDisk),
      copy('pve1/restic/127.0.0.1', at({ host: 'pve1', devices: [], repository: 'restic:77aa', media: 'nas' })),
    ],
    counts: { copies: 2, offsite: 0, offlineOrImmutable: 0, versions: 0 },
    reasons: ['too-few-copies', 'no-offsite', 'no-offline-or-immutable'],
    says: ["not counted: on production's host (host:pve1)"],
  },
  {
    name: 'a replica nas2 pulled, while a key pve1 holds is authorized on nas2: not immutable, and the reason says why',
    copies: [copy('pve1/zfs-pool/backup', secondDisk), copy('nas2/zfs-pool/pulled', pulled)],
    facts: { loginsFromProduction: ['NAS2'] },
    counts: { copies: 3, offsite: 1, offlineOrImmutable: 0, versions: 0 },
    reasons: ['no-offline-or-immutable'],
    says: ['nas2/zfs-pool/pulled [autosnap_', 'not immutable: an ssh key the source node holds is authorized on nas2'],
  },
  {
    name: 'a replica nas2 pulled, the source holding no login there (another node’s login elsewhere): immutable',
    copies: [copy('pve1/zfs-pool/backup', secondDisk), copy('nas2/zfs-pool/pulled', pulled)],
    facts: { loginsFromProduction: ['nas9'] },
    counts: { copies: 3, offsite: 1, offlineOrImmutable: 1, versions: 0 },
    reasons: [],
  },
  {
    // Unprobed places may sit on production's disk or on each other's: one disk failure could take all of them.
    name: 'an old agent typed offsite/offline/immutable: nothing it reports is counted, no typed claim trusted',
    copies: [
      copy('pve1/dir/backup', undefined),
      copy('nas2/dir/backup', undefined, { offsite: true, offline: true, immutable: true }),
    ],
    counts: { copies: 1, offsite: 0, offlineOrImmutable: 0, versions: 0 },
    reasons: ['too-few-copies', 'too-few-media', 'no-offsite', 'no-offline-or-immutable', 'stale'],
    says: [
      'nas2/dir/backup [autosnap_',
      'not counted: no probed storage identity (its agent predates storage probing',
      'no independent copy exists',
    ],
  },
]

describe('verdict by failure domain (issue 11)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const facts = { ...asset, ...c.facts }
      const v = evaluateAsset(facts, c.copies, defaultTierPolicies.standard, NOW)
      const { copies, offsite, offlineOrImmutable, versions } = v.counts
      assert.deepEqual({ copies, offsite, offlineOrImmutable, versions }, c.counts)
      assert.deepEqual(v.reasons.map((r) => r.code).sort(), [...c.reasons].sort(), JSON.stringify(v.reasons))
      const text = v.reasons.map((r) => r.message).join('\n')
      for (const s of c.says ?? []) {
        assert.ok(text.includes(s), `a reason says "${s}":\n${text}`)
      }
    })
  }

  it('lists every place with its role, failure domain and why', () => {
    const v = evaluateAsset(
      asset,
      [snap(), copy('pve1/zfs-pool/backup', samediskPool), copy('pve1/usb/usb-1', usbDetached)],
      defaultTierPolicies.standard,
      NOW,
    )
    const byKey = Object.fromEntries(v.places.map((p) => [p.locationKey, p]))
    assert.equal(byKey['pve1/zfs-pool/rpool']!.role, 'version')
    assert.equal(byKey['pve1/zfs-pool/backup']!.role, 'version')
    assert.equal(byKey['pve1/usb/usb-1']!.role, 'copy')
    assert.equal(byKey['pve1/usb/usb-1']!.counted, true)
    assert.deepEqual(byKey['pve1/usb/usb-1']!.domain, ['fs:usb-1', 'location:pve1/usb/usb-1'])
    assert.match(byKey['pve1/usb/usb-1']!.why, /shares no device with production/)
  })

  it('an object lock re-evaluates when its retain-until passes', () => {
    const until = NOW + 3 * H
    const copies = [copy('pve1/zfs-pool/backup', secondDisk), copy('s3/b', lock(until), { createdAt: NOW - H })]
    const v = evaluateAsset(asset, copies, defaultTierPolicies.standard, NOW)
    assert.equal(v.status, 'compliant')
    assert.equal(v.expiresAt, until + 1)
    const later = evaluateAsset(asset, copies, defaultTierPolicies.standard, v.expiresAt!)
    assert.deepEqual(
      later.reasons.map((r) => r.code),
      ['no-offline-or-immutable'],
    )
  })

  it('a copy whose production source is unknown is never offsite (the site cannot be compared)', () => {
    const v = evaluateAsset(
      { ...asset, productionStorage: undefined },
      [copy('nas2/zfs-pool/backup', nas)],
      defaultTierPolicies.standard,
      NOW,
    )
    assert.equal(v.counts.offsite, 0)
    assert.ok(v.reasons.some((r) => r.message.includes('production site unknown')))
  })
})
