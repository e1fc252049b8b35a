import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  defaultTierPolicies,
  evaluateAsset,
  mediaTypes,
  type AssetFacts,
  type DeviceHealth,
  type LedgerCopy,
  type StorageDevice,
  type StorageIdentity,
  type VerdictReasonCode,
  verdictRule,
} from '@backstop/shared'

const NOW = Date.parse('2026-11-22T12:00:00Z')
const H = 3600_000
// Issue 11: offsite/offline/immutable are proven by probed storage, never by the typed booleans. These cases used
// to set only `offsite: true` / `offline: true` / `immutable: true`; they now carry the probed facts that make those
// true (production at site "home", the NAS at "dc2", a detached USB disk, an object lock), so what they assert
// about the rules still holds. What typed booleans alone now earn is asserted in failure-domain.test.ts.
const disk = (id: string, transport: StorageDevice['transport'] = 'sata'): StorageDevice => ({ id, transport })
const probed = (o: Partial<StorageIdentity>): StorageIdentity => ({
  host: 'pve1',
  site: 'home',
  devices: [],
  media: 'hdd',
  ...o,
})
const asset: AssetFacts = {
  tier: 'standard',
  lifecycle: 'active',
  productionMedia: 'nvme',
  productionLocationKey: 'pve1/zfs-pool/rpool',
  productionStorage: probed({ devices: [disk('wwn:nvme0', 'nvme')], media: 'nvme', fsUuid: 'rpool-guid' }),
}

let n = 0
function copy(locationKey: string, over: Partial<LedgerCopy> = {}): LedgerCopy {
  return {
    copyId: `c${n++}`,
    locationKey,
    media: 'hdd',
    offsite: false,
    offline: false,
    immutable: false,
    createdAt: NOW - 2 * H,
    verification: 'verified',
    ...over,
  }
}
const tankStorage = probed({ devices: [disk('wwn:hdd1')], fsUuid: 'tank-guid' })
const nasStorage = probed({ host: 'nas2', site: 'dc2', devices: [disk('wwn:nas-a')], media: 'nas', fsUuid: 'nas' })
const usbStorage = probed({ devices: [], fsUuid: 'usb1-uuid', media: 'usb', attached: false })
const local = (o: Partial<LedgerCopy> = {}) => copy('pve1/zfs-pool/tank', { media: 'hdd', storage: tankStorage, ...o })
const offsite = (o: Partial<LedgerCopy> = {}) =>
  copy('nas2/zfs-pool/backup', { media: 'nas', offsite: true, storage: nasStorage, ...o })
const usb = (o: Partial<LedgerCopy> = {}) =>
  copy('pve1/usb/USB-1', { media: 'usb', offline: true, deviceKey: 'serial-usb1', storage: usbStorage, ...o })
const snapshot = (o: Partial<LedgerCopy> = {}) =>
  copy('pve1/zfs-pool/rpool', { media: 'nvme', storage: asset.productionStorage, ...o })
const lockedUntil = new Date(NOW + 30 * 24 * H).toISOString()
const objectLock = (o: Partial<StorageIdentity> = {}) =>
  probed({
    host: 's3.example',
    site: 'cloud',
    media: 'object',
    repository: 's3.example/bucket',
    immutability: { kind: 'object-lock', probedAt: new Date(NOW - H).toISOString(), retainUntil: lockedUntil },
    ...o,
  })

const full = [snapshot(), local(), offsite(), usb()]

describe('3-2-1-1-0 verdict: named cases', () => {
  const cases: Array<{
    name: string
    copies: LedgerCopy[]
    facts?: Partial<AssetFacts>
    health?: Record<string, DeviceHealth>
    status: string
    reasons: VerdictReasonCode[]
  }> = [
    { name: 'full 3-2-1-1-0 is compliant', copies: full, status: 'compliant', reasons: [] },
    {
      name: 'no copies at all',
      copies: [],
      status: 'non-compliant',
      reasons: ['too-few-copies', 'too-few-media', 'no-offsite', 'no-offline-or-immutable', 'stale'],
    },
    {
      name: 'snapshots beside production are not a copy',
      copies: [snapshot(), snapshot({ createdAt: NOW - H })],
      status: 'non-compliant',
      reasons: ['too-few-copies', 'too-few-media', 'no-offsite', 'no-offline-or-immutable', 'stale'],
    },
    {
      name: 'thirty snapshots on one pool are one copy',
      copies: Array.from({ length: 30 }, (_, i) => local({ createdAt: NOW - i * H })).concat([offsite()]),
      status: 'non-compliant',
      reasons: ['no-offline-or-immutable'],
    },
    {
      name: 'all copies on one media type',
      copies: [
        copy('a', { media: 'nvme', storage: probed({ devices: [disk('wwn:a', 'nvme')], media: 'nvme' }) }),
        copy('b', { media: 'nvme', storage: objectLock({ media: 'nvme' }) }),
      ],
      status: 'non-compliant',
      reasons: ['too-few-media'],
    },
    {
      name: 'immutable object storage satisfies the offline-or-immutable rule',
      copies: [local(), copy('s3/bucket', { media: 'object', offsite: true, immutable: true, storage: objectLock() })],
      status: 'compliant',
      reasons: [],
    },
    {
      name: 'a failed verification is an error and the copy does not count',
      copies: [local(), offsite(), usb({ verification: 'failed' })],
      status: 'non-compliant',
      reasons: ['no-offline-or-immutable', 'verification-errors'],
    },
    {
      name: 'a copy on a failed device does not count',
      copies: full,
      health: { 'serial-usb1': 'failed' },
      status: 'non-compliant',
      reasons: ['no-offline-or-immutable'],
    },
    {
      name: 'a copy on a degraded device does not count',
      copies: [local(), offsite({ deviceKey: 'nas-disk' }), usb()],
      health: { 'nas-disk': 'degraded' },
      status: 'non-compliant',
      reasons: ['no-offsite'],
    },
    {
      name: 'deleted copies do not count',
      copies: [local(), offsite({ deletedAt: NOW - H }), usb()],
      status: 'non-compliant',
      reasons: ['no-offsite'],
    },
    {
      name: 'production plus one backup is two copies',
      copies: [
        copy('x', { media: 'usb', storage: probed({ fsUuid: 'x', media: 'usb', site: 'away', attached: false }) }),
      ],
      status: 'non-compliant',
      reasons: ['too-few-copies'],
    },
    {
      name: 'newest copy older than the RPO',
      copies: [
        local({ createdAt: NOW - 30 * H }),
        offsite({ createdAt: NOW - 30 * H }),
        usb({ createdAt: NOW - 30 * H }),
      ],
      status: 'non-compliant',
      reasons: ['stale'],
    },
    {
      name: 'offsite copy older than its RPO',
      copies: [local(), offsite({ createdAt: NOW - 9 * 24 * H }), usb()],
      status: 'non-compliant',
      reasons: ['stale-offsite'],
    },
    {
      name: 'offline copy older than its RPO',
      copies: [local(), offsite(), usb({ createdAt: NOW - 40 * 24 * H })],
      status: 'non-compliant',
      reasons: ['stale-offline'],
    },
    {
      name: 'critical requires a verified copy',
      copies: full.map((c) => ({ ...c, verification: 'unverified' as const })),
      facts: { tier: 'critical' },
      status: 'non-compliant',
      reasons: ['never-verified'],
    },
    {
      name: 'low tier needs two copies and nothing offsite',
      copies: [local()],
      facts: { tier: 'low' },
      status: 'compliant',
      reasons: [],
    },
    {
      name: 'decommissioned assets are exempt',
      copies: [],
      facts: { lifecycle: 'decommissioned' },
      status: 'exempt',
      reasons: [],
    },
    {
      name: 'archived assets are exempt',
      copies: [local({ createdAt: NOW - 400 * 24 * H })],
      facts: { lifecycle: 'archived' },
      status: 'exempt',
      reasons: [],
    },
    {
      name: 'an asset marked intentionally unprotected is exempt, however few its copies',
      copies: [local()],
      facts: { exemption: { reason: 'scratch space', actor: 'token:ops', at: NOW - H } },
      status: 'exempt',
      reasons: [],
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const facts = { ...asset, ...c.facts }
      const v = evaluateAsset(facts, c.copies, defaultTierPolicies[facts.tier], NOW, (k) => c.health?.[k] ?? 'ok')
      assert.equal(v.status, c.status, JSON.stringify(v.reasons))
      assert.deepEqual(v.reasons.map((r) => r.code).sort(), [...c.reasons].sort())
      for (const r of v.reasons) {
        assert.ok(r.message.length > 10, `reason ${r.code} says what is wrong`)
      }
    })
  }

  it('a stale or failed copy is named in its reason: place, copy name, and the place in `copies`', () => {
    const copies = [
      local(),
      offsite({ createdAt: NOW - 9 * 24 * H, name: 'backup/vm-101@daily-1' }),
      usb({ verification: 'failed', name: 'usb-1/vm-101.tar' }),
    ]
    const v = evaluateAsset(asset, copies, defaultTierPolicies.standard, NOW)
    const byCode = new Map(v.reasons.map((r) => [r.code, r]))
    const stale = byCode.get('stale-offsite')!
    assert.match(
      stale.message,
      /^newest offsite copy is 9d old \(nas2\/zfs-pool\/backup \[backup\/vm-101@daily-1\]\), RPO/,
    )
    assert.deepEqual(stale.copies, ['nas2/zfs-pool/backup'])
    const failed = byCode.get('verification-errors')!
    assert.match(failed.message, /failed their last verification, allowed 0: pve1\/usb\/USB-1 \[usb-1\/vm-101\.tar\]$/)
    assert.deepEqual(failed.copies, ['pve1/usb/USB-1'])
  })

  it('counts production as one copy and one media type', () => {
    const v = evaluateAsset(asset, full, defaultTierPolicies.standard, NOW)
    assert.equal(v.counts.copies, 4)
    assert.deepEqual([v.counts.mediaTypes, v.counts.offsite, v.counts.offlineOrImmutable], [4, 1, 1])
  })

  it('expires when the newest copy of a kind ages past its RPO, and then turns non-compliant', () => {
    const v = evaluateAsset(asset, full, defaultTierPolicies.standard, NOW)
    assert.equal(v.expiresAt, NOW - 2 * H + 26 * H + 1)
    const later = evaluateAsset(asset, full, defaultTierPolicies.standard, v.expiresAt!)
    assert.deepEqual(
      later.reasons.map((r) => r.code),
      ['stale'],
    )
    assert.equal(evaluateAsset(asset, full, defaultTierPolicies.standard, v.expiresAt! - 1).status, 'compliant')
  })
})

const arbCopy = fc.record({
  copyId: fc.uuid(),
  locationKey: fc.constantFrom('pve1/zfs-pool/rpool', 'l1', 'l2', 'l3', 'l4'),
  deviceKey: fc.option(fc.constantFrom('d1', 'd2', 'd3'), { nil: undefined }),
  media: fc.constantFrom(...mediaTypes),
  offsite: fc.boolean(),
  offline: fc.boolean(),
  immutable: fc.boolean(),
  createdAt: fc.integer({ min: NOW - 60 * 24 * H, max: NOW }),
  verification: fc.constantFrom('verified' as const, 'failed' as const, 'unverified' as const),
  deletedAt: fc.option(fc.constant(NOW - H), { nil: undefined }),
})
const arbHealth = fc.record({
  d1: fc.constantFrom<DeviceHealth>('ok', 'degraded', 'failed', 'unknown'),
  d2: fc.constantFrom<DeviceHealth>('ok', 'failed'),
  d3: fc.constant<DeviceHealth>('ok'),
})
const arbTier = fc.constantFrom('critical' as const, 'standard' as const, 'low' as const)

describe('3-2-1-1-0 verdict: properties', () => {
  it('adding a good copy never makes a verdict worse', () => {
    fc.assert(
      fc.property(fc.array(arbCopy, { maxLength: 12 }), arbCopy, arbHealth, arbTier, (copies, extra, health, tier) => {
        const facts = { ...asset, tier }
        const good: LedgerCopy = { ...extra, verification: 'verified', deletedAt: undefined, deviceKey: 'd3' }
        const before = evaluateAsset(facts, copies, defaultTierPolicies[tier], NOW, (k) => health[k as 'd1'])
        const after = evaluateAsset(facts, [...copies, good], defaultTierPolicies[tier], NOW, (k) => health[k as 'd1'])
        const rules = new Set(before.reasons.map((r) => verdictRule(r.code)))
        for (const r of after.reasons) {
          assert.ok(
            rules.has(verdictRule(r.code)),
            `rule ${verdictRule(r.code)} newly fails (${r.code}) after adding a good copy`,
          )
        }
        if (before.status === 'compliant') {
          assert.equal(after.status, 'compliant')
        }
        for (const k of ['copies', 'mediaTypes', 'offsite', 'offlineOrImmutable', 'verified'] as const) {
          assert.ok(after.counts[k] >= before.counts[k], k)
        }
      }),
      { numRuns: 300 },
    )
  })

  it('a device failing never makes a verdict better', () => {
    fc.assert(
      fc.property(fc.array(arbCopy, { maxLength: 12 }), arbTier, (copies, tier) => {
        const facts = { ...asset, tier }
        const ok = evaluateAsset(facts, copies, defaultTierPolicies[tier], NOW, () => 'ok')
        const bad = evaluateAsset(facts, copies, defaultTierPolicies[tier], NOW, (k) => (k === 'd1' ? 'failed' : 'ok'))
        assert.ok(bad.counts.copies <= ok.counts.copies)
        assert.ok(bad.reasons.length >= ok.reasons.length)
      }),
      { numRuns: 300 },
    )
  })

  it('is compliant exactly when there are no reasons, and stays so until expiresAt', () => {
    fc.assert(
      fc.property(fc.array(arbCopy, { maxLength: 12 }), arbTier, (copies, tier) => {
        const facts = { ...asset, tier }
        const v = evaluateAsset(facts, copies, defaultTierPolicies[tier], NOW)
        assert.equal(v.status === 'compliant', v.reasons.length === 0)
        if (v.status === 'compliant' && v.expiresAt !== null) {
          assert.equal(evaluateAsset(facts, copies, defaultTierPolicies[tier], v.expiresAt - 1).status, 'compliant')
          assert.equal(evaluateAsset(facts, copies, defaultTierPolicies[tier], v.expiresAt).status, 'non-compliant')
        }
      }),
      { numRuns: 300 },
    )
  })
})
