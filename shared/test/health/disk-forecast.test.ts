import assert from 'node:assert/strict'
import { test } from 'node:test'
import { forecastFull, linearRegression, type UsagePoint } from '../../src/index.ts'

const GB = 1e9
const day = (n: number): string => new Date(Date.UTC(2026, 0, 1) + n * 86_400_000).toISOString()
const series = (n: number, used: (i: number) => number, size = 1000 * GB): UsagePoint[] =>
  Array.from({ length: n }, (_, i) => ({ at: day(i), usedBytes: used(i), sizeBytes: size }))

test('linearRegression recovers an exact line and refuses a vertical one', () => {
  const fit = linearRegression([0, 1, 2, 3], [1, 3, 5, 7])!
  assert.ok(Math.abs(fit.slope - 2) < 1e-12 && Math.abs(fit.intercept - 1) < 1e-12)
  assert.equal(linearRegression([5, 5, 5], [1, 2, 3]), null)
})

const cases: {
  name: string
  points: UsagePoint[]
  expect: null | { fullAt: string | null; gbPerDay?: number; toleranceH?: number }
}[] = [
  {
    name: 'fewer than 7 points: no forecast (PBS waits for enough data)',
    points: series(6, (i) => (500 + 10 * i) * GB),
    expect: null,
  },
  {
    name: '10 GB/day from 500 GB of 1000 GB: full 50 days after day 0',
    points: series(7, (i) => (500 + 10 * i) * GB),
    expect: { fullAt: day(50), gbPerDay: 10 },
  },
  { name: 'flat usage: no date', points: series(10, () => 500 * GB), expect: { fullAt: null, gbPerDay: 0 } },
  {
    name: 'shrinking usage (pruning): no date',
    points: series(10, (i) => (900 - 5 * i) * GB),
    expect: { fullAt: null, gbPerDay: -5 },
  },
  {
    name: 'noisy growth still fits the trend',
    points: series(14, (i) => (600 + 20 * i + (i % 2 === 0 ? 3 : -3)) * GB),
    expect: { fullAt: day(20), gbPerDay: 20, toleranceH: 6 },
  },
]

for (const c of cases) {
  test(`forecastFull: ${c.name}`, () => {
    const f = forecastFull(c.points)
    if (c.expect === null) {
      assert.equal(f, null)
      return
    }
    assert.ok(f)
    assert.equal(f.points, c.points.length)
    if (c.expect.fullAt === null) {
      assert.equal(f.fullAt, null)
    } else {
      // Within an hour of the exact crossing (a few hours for the noisy series).
      assert.ok(
        Math.abs(Date.parse(f.fullAt!) - Date.parse(c.expect.fullAt)) < (c.expect.toleranceH ?? 1) * 3_600_000,
        `${f.fullAt} vs ${c.expect.fullAt}`,
      )
    }
    assert.ok(Math.abs(f.bytesPerDay / GB - c.expect.gbPerDay!) < 0.5, `${f.bytesPerDay / GB} GB/day`)
  })
}
