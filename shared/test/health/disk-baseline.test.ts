import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  acknowledgeBaseline,
  counterDeltas,
  type DiskHealth,
  diskKey,
  initialBaseline,
  reconcileBaseline,
} from '../../src/index.ts'

const t0 = new Date('2026-01-01T00:00:00Z')
const disk = (counters: DiskHealth['counters'], serial: string | null = 'S1'): DiskHealth => ({
  name: '/dev/sda',
  type: 'sat',
  protocol: 'ATA',
  source: 'smartctl',
  smart: 'passed',
  counters,
  failingAttributes: [],
  messages: [],
  ...(serial ? { serial } : {}),
})

test('diskKey prefers the serial over the device node', () => {
  assert.equal(diskKey(disk({}, 'ABC')), 'serial:ABC')
  assert.equal(diskKey(disk({}, null)), 'name:/dev/sda')
})

test('old damage is not news; growth is; acknowledging clears it; renewed growth is news again', () => {
  const steps: { counters: DiskHealth['counters']; ack?: boolean; expect: string[] }[] = [
    { counters: { reallocatedSectors: 8, pendingSectors: 0 }, expect: [] },
    { counters: { reallocatedSectors: 8, pendingSectors: 0 }, expect: [] },
    { counters: { reallocatedSectors: 12, pendingSectors: 0 }, expect: ['reallocatedSectors 8→12'] },
    {
      counters: { reallocatedSectors: 16, pendingSectors: 2 },
      expect: ['reallocatedSectors 8→16', 'pendingSectors 0→2'],
    },
    { counters: { reallocatedSectors: 16, pendingSectors: 2 }, ack: true, expect: [] },
    // A transient pending sector that got rewritten lowers the baseline and clears by itself…
    { counters: { reallocatedSectors: 16, pendingSectors: 0 }, expect: [] },
    // …so if it comes back, that is news again.
    { counters: { reallocatedSectors: 16, pendingSectors: 1 }, expect: ['pendingSectors 0→1'] },
    // A counter the baseline never saw counts from zero.
    {
      counters: { reallocatedSectors: 16, pendingSectors: 1, crcErrors: 3 },
      expect: ['crcErrors 0→3', 'pendingSectors 0→1'],
    },
  ]
  let baseline = initialBaseline(disk(steps[0]!.counters), t0)
  for (const [i, s] of steps.entries()) {
    const d = disk(s.counters)
    if (s.ack) {
      baseline = acknowledgeBaseline(baseline, d, t0)
    }
    const got = counterDeltas(d, baseline).map((x) => `${x.counter} ${x.baseline}→${x.current}`)
    assert.deepEqual(got, s.expect, `step ${i}`)
    baseline = reconcileBaseline(baseline, d)
  }
  assert.equal(baseline.acknowledgedAt, t0.toISOString())
})
