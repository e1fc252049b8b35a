import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  alertAsset,
  alertKey,
  alertKinds,
  applyCondition,
  assetAlertKinds,
  foldUnderDownNodes,
  notifyDecision,
  runAnomalies,
  type AlertCondition,
  type AlertRecord,
  type NodeScopedAlert,
  type RunSample,
} from '@backstop/shared'

const T = 1_000_000
const cond = (over: Partial<AlertCondition> = {}): AlertCondition => ({
  key: 'missed-backup/pve1/vm/101',
  kind: 'missed-backup',
  severity: 'warning',
  node: 'pve1',
  summary: 'missed',
  firing: true,
  ...over,
})

describe('alert flips', () => {
  it('fires once, dedupes repeats, escalates, resolves, re-fires', () => {
    const a = applyCondition(undefined, cond(), T)
    assert.deepEqual([a.flip?.from, a.flip?.to], ['none', 'firing'])
    const again = applyCondition(a.record, cond({ summary: 'still missed' }), T + 1)
    assert.equal(again.flip, null, 'same state and severity is deduped')
    assert.equal(again.record?.summary, 'still missed')
    const acked: AlertRecord = { ...again.record!, ackedAt: T + 2, ackedBy: 'ops' }
    const esc = applyCondition(acked, cond({ severity: 'critical' }), T + 3)
    assert.deepEqual(
      [esc.flip?.from, esc.flip?.to, esc.flip?.severity, esc.record?.ackedAt],
      ['firing', 'firing', 'critical', null],
    )
    const res = applyCondition(esc.record, cond({ firing: false }), T + 4)
    assert.deepEqual([res.flip?.to, res.record?.state, res.record?.since], ['resolved', 'resolved', T + 4])
    assert.equal(applyCondition(res.record, cond({ firing: false }), T + 5).flip, null)
    assert.equal(applyCondition(res.record, cond(), T + 6).flip?.from, 'resolved')
    assert.equal(
      applyCondition(undefined, cond({ firing: false }), T).flip,
      null,
      'a condition that never fired makes no alert',
    )
  })

  it('keys are stable and topic-safe levels', () => {
    assert.equal(alertKey('missed-backup', 'pve1', 'vm/101'), 'missed-backup/pve1/vm/101')
    assert.equal(alertKey('node-down', 'nas2'), 'node-down/nas2')
  })

  it('notification decisions: severity threshold, silence, maintenance, ack', () => {
    const a = applyCondition(undefined, cond(), T)
    const rec = a.record!
    const cases: Array<[string, Parameters<typeof notifyDecision>, string]> = [
      ['plain firing', [a.flip!, rec, []], 'notify'],
      ['below threshold', [{ ...a.flip!, severity: 'info' }, rec, []], 'below-threshold'],
      ['silenced', [a.flip!, { ...rec, silencedUntil: T + 10 }, []], 'silenced'],
      ['silence expired', [a.flip!, { ...rec, silencedUntil: T }, []], 'notify'],
      ['node maintenance', [a.flip!, rec, [{ start: T - 1, end: T + 1, node: 'pve1' }]], 'maintenance'],
      ['other node maintenance', [a.flip!, rec, [{ start: T - 1, end: T + 1, node: 'pve2' }]], 'notify'],
      [
        'key-prefix maintenance',
        [a.flip!, rec, [{ start: T, end: T + 1, keyPrefix: 'missed-backup/' }]],
        'maintenance',
      ],
      ['acked severity change', [{ ...a.flip!, from: 'firing' }, { ...rec, ackedAt: T }, []], 'acked'],
    ]
    for (const [name, args, want] of cases) {
      assert.equal(notifyDecision(...args), want, name)
    }
  })
})

describe('node-down suppression', () => {
  it('folds missed-backup alerts of down nodes, keeps the rest', () => {
    const alerts: NodeScopedAlert[] = [
      { key: 'missed-backup/nas1/a', kind: 'missed-backup', node: 'nas1' },
      { key: 'missed-backup/nas1/b', kind: 'missed-backup', node: 'nas1' },
      { key: 'run-failed/nas1/c', kind: 'run-failed', node: 'nas1' },
      { key: 'missed-backup/pve1/a', kind: 'missed-backup', node: 'pve1' },
    ]
    const r = foldUnderDownNodes(alerts, new Set(['nas1']))
    assert.deepEqual(
      r.kept.map((a) => a.key),
      ['run-failed/nas1/c', 'missed-backup/pve1/a'],
    )
    assert.deepEqual(
      r.folded.get('nas1')?.map((a) => a.key),
      ['missed-backup/nas1/a', 'missed-backup/nas1/b'],
    )
  })
})

describe('run anomalies', () => {
  const hist: RunSample[] = Array.from({ length: 10 }, (_, i) => ({ durationMs: 600_000 + i * 1000, bytes: 1e9 + i }))
  const cases: Array<[string, RunSample[], RunSample, string[]]> = [
    ['normal run', hist, { durationMs: 610_000, bytes: 1e9 }, []],
    ['suspiciously fast', hist, { durationMs: 20_000, bytes: 1e9 }, ['too-fast']],
    ['far fewer bytes', hist, { durationMs: 600_000, bytes: 1e8 }, ['too-small']],
    ['fast and small', hist, { durationMs: 5_000, bytes: 10 }, ['too-fast', 'too-small']],
    ['far too slow', hist, { durationMs: 4e6, bytes: 1e9 }, ['too-slow']],
    ['too little history to judge', hist.slice(0, 3), { durationMs: 1, bytes: 1 }, []],
    [
      'instant incremental baseline is never too fast',
      hist.map((h) => ({ ...h, durationMs: 2000 })),
      { durationMs: 100, bytes: 1e9 },
      [],
    ],
  ]
  for (const [name, h, run, want] of cases) {
    it(name, () =>
      assert.deepEqual(
        runAnomalies(h, run).map((a) => a.code),
        want,
      ),
    )
  }
})

describe('alert keys', () => {
  it('alertAsset reads the asset back from the keys of per-asset kinds, and only from those', () => {
    const cases: Array<[string, string | undefined]> = [
      [alertKey('missed-backup', 'pve1', 'nightly/vm/101'), 'pve1/vm/101'],
      [alertKey('non-compliant', 'pve1', 'dataset/tank/data'), 'pve1/dataset/tank/data'],
      [alertKey('coverage-gap', 'pve1', 'vm/101'), undefined],
      [alertKey('node-down', 'pve1'), undefined],
      [alertKey('missed-backup', 'pve1', 'nightly'), undefined],
      ['stale/pve1/vm/101', undefined],
      ['', undefined],
    ]
    for (const [key, asset] of cases) {
      assert.equal(alertAsset(key), asset, key)
    }
  })

  it('assetAlertKinds are exactly the kinds alertAsset answers for', () => {
    assert.deepEqual(assetAlertKinds, ['missed-backup', 'non-compliant'])
    for (const kind of alertKinds) {
      const perAsset = alertAsset(alertKey(kind, 'n', 'job/vm/1')) !== undefined
      assert.equal(perAsset, assetAlertKinds.includes(kind), kind)
    }
  })
})
