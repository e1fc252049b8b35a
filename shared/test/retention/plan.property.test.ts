import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  calendarPeriods,
  parseSnapshotTimestamp,
  planRetention,
  snapshotTimestamp,
  type RetentionDecision,
} from '@backstop/shared'
import { historyArb, type History } from './arbitraries.ts'

/**
 * The safety invariants of docs/retention.md, each over 10,000 random histories (issue 3). Histories cross
 * DST changes in Europe/Amsterdam, America/New_York and Lord Howe (30-minute DST) and mix failed, held,
 * untagged and tagged copies.
 */
const RUNS = { numRuns: 10_000 }

function plan(h: History): RetentionDecision[] {
  return planRetention(h.snapshots, h.policy, h.now)
}

function kept(h: History, decisions: RetentionDecision[]): History['snapshots'] {
  const keep = new Set(decisions.filter((d) => d.action === 'keep').map((d) => d.id))
  return h.snapshots.filter((s) => keep.has(s.id))
}

describe('retention safety invariants (fast-check, 10,000 histories each)', () => {
  it('never deletes the last remaining copy (nor the last successful one)', () => {
    fc.assert(
      fc.property(historyArb(), (h) => {
        const d = plan(h)
        // Every snapshot is decided exactly once, in input order, with a reason.
        assert.deepEqual(
          d.map((x) => x.id),
          h.snapshots.map((s) => s.id),
        )
        assert.ok(d.every((x) => x.reasons.length > 0))
        if (h.snapshots.length > 0) {
          assert.ok(
            d.some((x) => x.action === 'keep'),
            'something is kept',
          )
        }
        const keptSet = kept(h, d)
        if (h.snapshots.some((s) => s.successful && s.createdAt <= h.now)) {
          assert.ok(
            keptSet.some((s) => s.successful && s.createdAt <= h.now),
            'a successful copy is kept',
          )
        }
      }),
      RUNS,
    )
  })

  it('never deletes a copy unless a newer successful copy is kept on the same target', () => {
    let pruned = 0
    fc.assert(
      fc.property(historyArb(), (h) => {
        const d = plan(h)
        pruned += d.some((x) => x.action === 'destroy') ? 1 : 0
        const keptSet = kept(h, d)
        for (const [i, x] of d.entries()) {
          if (x.action === 'destroy') {
            const victim = h.snapshots[i]!
            assert.ok(
              keptSet.some((k) => k.successful && k.createdAt > victim.createdAt && k.createdAt <= h.now),
              `${victim.id} destroyed without a newer successful copy`,
            )
          }
        }
      }),
      RUNS,
    )
    // Not vacuous: most generated histories do prune something.
    assert.ok(pruned > RUNS.numRuns / 3, `only ${pruned} of ${RUNS.numRuns} histories pruned anything`)
  })

  it('never deletes a held copy, nor one created after now', () => {
    fc.assert(
      fc.property(historyArb(), (h) => {
        const d = plan(h)
        for (const [i, x] of d.entries()) {
          const s = h.snapshots[i]!
          if (s.held || s.createdAt > h.now) {
            assert.equal(x.action, 'keep', `${s.id} held=${s.held} createdAt=${s.createdAt.toISOString()}`)
          }
        }
      }),
      RUNS,
    )
  })

  it('is idempotent: planning again over the kept set destroys nothing and gives the same reasons', () => {
    let pruned = 0
    fc.assert(
      fc.property(historyArb(), (h) => {
        const first = plan(h)
        pruned += first.some((x) => x.action === 'destroy') ? 1 : 0
        const again = planRetention(kept(h, first), h.policy, h.now)
        const firstById = new Map(first.map((x) => [x.id, x]))
        for (const x of again) {
          assert.equal(x.action, 'keep', `${x.id} destroyed on the second pass: ${x.reasons.join(', ')}`)
          assert.deepEqual(x.reasons, firstById.get(x.id)!.reasons)
        }
      }),
      RUNS,
    )
    assert.ok(pruned > RUNS.numRuns / 3, `only ${pruned} of ${RUNS.numRuns} first passes pruned anything`)
  })

  it('survives DST: one daily per local day and one hourly per local hour, labelled by the zone calendar', () => {
    let acrossDst = 0
    fc.assert(
      fc.property(historyArb('untagged', true), (h) => {
        const d = plan(h)
        const candidates = h.snapshots.filter((s) => s.successful && s.createdAt <= h.now)
        // Independent oracle labels, computed once per candidate.
        const labels = new Map(candidates.map((c) => [c.id, oracleLabels(c.createdAt, h.policy.timezone)]))
        const seen = new Set<string>()
        const offsets = new Set([...labels.values()].map((l) => l.hourly.slice(-6)))
        acrossDst += offsets.size > 1 ? 1 : 0
        for (const x of d) {
          for (const r of x.reasons) {
            const m = /^(hourly|daily)\(\d+\): (.+)$/.exec(r)
            if (m === null) {
              continue
            }
            const cls = m[1] as 'hourly' | 'daily'
            const label = m[2]!
            const own = labels.get(x.id)!
            assert.equal(label, own[cls], `${cls} label of ${x.id}`)
            assert.ok(!seen.has(`${cls} ${label}`), `two ${cls} representatives for ${label}`)
            seen.add(`${cls} ${label}`)
            // Untagged: the representative is the oldest successful copy of that local period.
            const me = candidates.find((c) => c.id === x.id)!
            const older = candidates.filter((c) => c.createdAt < me.createdAt && labels.get(c.id)![cls] === label)
            assert.deepEqual(
              older.map((c) => c.id),
              [],
              `${x.id} is not the oldest of ${label}`,
            )
          }
        }
      }),
      RUNS,
    )
    // Not vacuous: many histories really contain copies on both sides of a DST change.
    assert.ok(acrossDst > RUNS.numRuns / 5, `only ${acrossDst} histories crossed a DST change`)
  })

  it('decides the same whatever the host time zone is (no local-time Date methods anywhere)', (t) => {
    const saved = process.env['TZ']
    t.after(() => {
      if (saved === undefined) {
        delete process.env['TZ']
      } else {
        process.env['TZ'] = saved
      }
    })
    const histories = fc.sample(historyArb(), { numRuns: 2000, seed: 42 })
    const under = (tz: string): RetentionDecision[][] => {
      process.env['TZ'] = tz
      return histories.map(plan)
    }
    const chatham = under('Pacific/Chatham')
    assert.equal(new Date(Date.UTC(2026, 0, 1)).getHours(), 13, 'the host zone switch took effect')
    assert.deepEqual(under('America/St_Johns'), chatham)
  })

  it('correct creation-time tags give the same plan as oldest-in-period for untagged history', () => {
    fc.assert(
      fc.property(historyArb('computed'), (h) => {
        const untagged = { ...h, snapshots: h.snapshots.map((s) => ({ ...s, tags: undefined })) }
        assert.deepEqual(plan(h), plan(untagged))
      }),
      RUNS,
    )
  })

  it('snapshot names are fixed-width UTC, round-trip exactly and sort chronologically', () => {
    const instant = fc
      .integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(9999, 11, 31, 23, 59, 59) })
      .map((ms) => new Date(Math.floor(ms / 1000) * 1000))
    fc.assert(
      fc.property(instant, instant, (a, b) => {
        const na = snapshotTimestamp(a)
        const nb = snapshotTimestamp(b)
        assert.match(na, /^\d{8}T\d{6}Z$/)
        assert.equal(parseSnapshotTimestamp(na)?.getTime(), a.getTime())
        assert.equal(Math.sign(na.localeCompare(nb)), Math.sign(a.getTime() - b.getTime()))
      }),
      RUNS,
    )
  })
})

// An independent oracle for the local calendar: Intl (ICU) instead of the engine's luxon offset arithmetic.
const formatters = new Map<string, Intl.DateTimeFormat>()
function oracleLabels(at: Date, zone: string): { hourly: string; daily: string } {
  let f = formatters.get(zone)
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      hourCycle: 'h23',
      timeZoneName: 'longOffset',
    })
    formatters.set(zone, f)
  }
  const p = Object.fromEntries(f.formatToParts(at).map((x) => [x.type, x.value]))
  const daily = `${p['year']}-${p['month']}-${p['day']}`
  const offset = p['timeZoneName'] === 'GMT' ? '+00:00' : String(p['timeZoneName']).slice(3)
  return { daily, hourly: `${daily}T${p['hour']}:00${offset}` }
}

// Keeps the import honest: the engine's own periods must agree with the oracle on a known DST instant.
it('oracle and engine agree on the Amsterdam fall-back hour', () => {
  const policy = {
    timezone: 'Europe/Amsterdam',
    keep: { last: 0, hourly: 1, daily: 0, weekly: 0, monthly: 0, yearly: 0 },
    promote: { weekday: 'sunday', monthDay: 1, yearStart: { month: 1, day: 1 } },
  } as const
  const first = new Date('2026-10-25T00:30:00Z')
  const second = new Date('2026-10-25T01:30:00Z')
  assert.equal(calendarPeriods(first, policy).hourly, '2026-10-25T02:00+02:00')
  assert.equal(calendarPeriods(second, policy).hourly, '2026-10-25T02:00+01:00')
  assert.equal(oracleLabels(first, policy.timezone).hourly, '2026-10-25T02:00+02:00')
  assert.equal(oracleLabels(second, policy.timezone).hourly, '2026-10-25T02:00+01:00')
})
