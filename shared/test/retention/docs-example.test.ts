import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DateTime } from 'luxon'
import {
  encodePromotionTags,
  planRetention,
  promotionTags,
  resolveRetentionPolicy,
  snapshotTimestamp,
  type RetentionPolicyInput,
  type RetentionSnapshot,
} from '@backstop/shared'

/** The worked examples of docs/retention.md, so the document cannot drift from the engine. */
function dailyHistory(
  input: RetentionPolicyInput,
  fromLocal: string,
  toLocal: string,
): { snaps: RetentionSnapshot[]; local: string[] } {
  const policy = resolveRetentionPolicy(input)
  const snaps: RetentionSnapshot[] = []
  const local: string[] = []
  let previous: Date | null = null
  const end = DateTime.fromISO(toLocal, { zone: policy.timezone })
  for (let d = DateTime.fromISO(fromLocal, { zone: policy.timezone }); d <= end; d = d.plus({ days: 1 })) {
    const at = d.toJSDate()
    snaps.push({
      id: snapshotTimestamp(at),
      createdAt: at,
      held: false,
      successful: true,
      tags: promotionTags(at, policy, previous),
    })
    local.push(d.toFormat('ccc dd LLL'))
    previous = at
  }
  return { snaps, local }
}

describe('docs/retention.md worked examples', () => {
  it('Example 1: a month of daily snapshots, daily 7 / weekly 4 / monthly 12 / yearly 7', () => {
    const input: RetentionPolicyInput = {
      timezone: 'Europe/Amsterdam',
      keep: { last: 1, daily: 7, weekly: 4, monthly: 12, yearly: 7 },
    }
    const { snaps, local } = dailyHistory(input, '2026-11-01T01:00', '2026-11-30T01:00')
    const plan = planRetention(snaps, resolveRetentionPolicy(input), new Date('2026-11-30T12:00:00Z'))
    const kept = plan.flatMap((d, i) => (d.action === 'keep' ? [`${local[i]} ${d.id} ${d.reasons.join(' | ')}`] : []))
    assert.deepEqual(kept, [
      'Sun 01 Nov 20261101T000000Z monthly(12): 2026-11 | yearly(7): 2026',
      'Sun 08 Nov 20261108T000000Z weekly(4): 2026-11-08',
      'Sun 15 Nov 20261115T000000Z weekly(4): 2026-11-15',
      'Sun 22 Nov 20261122T000000Z weekly(4): 2026-11-22',
      'Tue 24 Nov 20261124T000000Z daily(7): 2026-11-24',
      'Wed 25 Nov 20261125T000000Z daily(7): 2026-11-25',
      'Thu 26 Nov 20261126T000000Z daily(7): 2026-11-26',
      'Fri 27 Nov 20261127T000000Z daily(7): 2026-11-27',
      'Sat 28 Nov 20261128T000000Z daily(7): 2026-11-28',
      'Sun 29 Nov 20261129T000000Z daily(7): 2026-11-29 | weekly(4): 2026-11-29',
      'Mon 30 Nov 20261130T000000Z newest successful copy | last(1) | daily(7): 2026-11-30',
    ])
    assert.equal(plan.filter((d) => d.action === 'destroy').length, 19)
    assert.equal(encodePromotionTags(snaps[0]!.tags!), 'hdwmy')
    assert.equal(encodePromotionTags(snaps[7]!.tags!), 'hdw')
    assert.equal(encodePromotionTags(snaps[8]!.tags!), 'hd')
  })

  it('Example 2: two months with the defaults across the October DST change', () => {
    const input: RetentionPolicyInput = { timezone: 'Europe/Amsterdam' }
    const { snaps, local } = dailyHistory(input, '2026-10-01T01:00', '2026-11-30T01:00')
    const plan = planRetention(snaps, resolveRetentionPolicy(input), new Date('2026-11-30T12:00:00Z'))
    const keptInOctober = plan.flatMap((d, i) =>
      d.action === 'keep' && local[i]!.endsWith('Oct') ? [`${local[i]} ${d.id} ${d.reasons.join(' | ')}`] : [],
    )
    assert.deepEqual(keptInOctober, [
      'Thu 01 Oct 20260930T230000Z weekly(12): 2026-09-27 | monthly(12): 2026-10 | yearly(7): 2026',
      'Sun 04 Oct 20261003T230000Z weekly(12): 2026-10-04',
      'Sun 11 Oct 20261010T230000Z weekly(12): 2026-10-11',
      'Sun 18 Oct 20261017T230000Z weekly(12): 2026-10-18',
      'Sun 25 Oct 20261024T230000Z weekly(12): 2026-10-25',
    ])
    // Every November day is a daily(30); the UTC names move by an hour at the DST change, the local days do not.
    assert.equal(plan.filter((d, i) => d.action === 'keep' && local[i]!.endsWith('Nov')).length, 30)
    assert.equal(snaps.find((_, i) => local[i] === 'Mon 26 Oct')!.id, '20261026T000000Z')
  })
})
