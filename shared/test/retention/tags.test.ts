import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  encodePromotionTags,
  parsePromotionTags,
  PROMOTION_CLASSES,
  promotionTags,
  resolveRetentionPolicy,
  type PromotionClass,
  type RetentionPolicyInput,
} from '@backstop/shared'

const AMS: RetentionPolicyInput = { timezone: 'Europe/Amsterdam' }
const NYC: RetentionPolicyInput = { timezone: 'America/New_York' }

describe('promotionTags (tag at creation, first snapshot of each calendar period)', () => {
  const cases: Array<[string, RetentionPolicyInput, string | null, string, PromotionClass[]]> = [
    ['first snapshot ever gets every class', AMS, null, '2026-11-18T12:00:00Z', [...PROMOTION_CLASSES]],
    [
      'first snapshot of a Sunday (local) is weekly — Sat 23:30 UTC is Sun 00:30 in Amsterdam',
      AMS,
      '2026-11-14T12:00:00Z',
      '2026-11-14T23:30:00Z',
      ['hourly', 'daily', 'weekly'],
    ],
    [
      'a second snapshot on that Sunday is only hourly',
      AMS,
      '2026-11-14T23:30:00Z',
      '2026-11-15T06:00:00Z',
      ['hourly'],
    ],
    [
      'Monday catches up the weekly when there was no snapshot on Sunday',
      AMS,
      '2026-11-13T12:00:00Z',
      '2026-11-16T08:00:00Z',
      ['hourly', 'daily', 'weekly'],
    ],
    [
      'Nov 1 00:30 Amsterdam (Oct 31 23:30 UTC) is monthly (and weekly: a Sunday)',
      AMS,
      '2026-10-31T12:00:00Z',
      '2026-10-31T23:30:00Z',
      ['hourly', 'daily', 'weekly', 'monthly'],
    ],
    [
      'Nov 1 12:00 UTC after that is nothing but hourly',
      AMS,
      '2026-10-31T23:30:00Z',
      '2026-11-01T12:00:00Z',
      ['hourly'],
    ],
    [
      'Jan 1 00:30 in New York (05:30 UTC) is yearly',
      NYC,
      '2026-12-31T23:00:00Z',
      '2027-01-01T05:30:00Z',
      ['hourly', 'daily', 'monthly', 'yearly'],
    ],
    [
      'Dec 31 20:00 in New York is Jan 1 in UTC but not yearly',
      NYC,
      '2026-12-31T12:00:00Z',
      '2027-01-01T01:00:00Z',
      ['hourly'],
    ],
    [
      'the repeated 02:00 hour at the Amsterdam fall-back is a new hour',
      AMS,
      '2026-10-25T00:45:00Z',
      '2026-10-25T01:15:00Z',
      ['hourly'],
    ],
    [
      'the 23-hour spring-forward day is still one day',
      AMS,
      '2026-03-28T23:30:00Z',
      '2026-03-29T21:30:00Z',
      ['hourly'],
    ],
    [
      'monthDay 15: the 15th starts the month',
      { ...AMS, promote: { monthDay: 15 } },
      '2026-11-14T12:00:00Z',
      '2026-11-15T12:00:00Z',
      ['hourly', 'daily', 'weekly', 'monthly'],
    ],
    [
      'yearStart 04-06: a tax year',
      { timezone: 'Europe/London', promote: { yearStart: '04-06' } },
      '2027-04-05T12:00:00Z',
      '2027-04-06T12:00:00Z',
      ['hourly', 'daily', 'yearly'],
    ],
    [
      'weekday monday',
      { ...AMS, promote: { weekday: 'monday' } },
      '2026-11-22T12:00:00Z',
      '2026-11-23T12:00:00Z',
      ['hourly', 'daily', 'weekly'],
    ],
    [
      'previous not earlier (out of order input) tags conservatively',
      AMS,
      '2026-11-20T12:00:00Z',
      '2026-11-20T12:00:00Z',
      [...PROMOTION_CLASSES],
    ],
  ]
  for (const [name, input, previous, created, expected] of cases) {
    it(name, () => {
      const policy = resolveRetentionPolicy(input)
      assert.deepEqual(
        promotionTags(new Date(created), policy, previous === null ? null : new Date(previous)),
        expected,
      )
    })
  }
  it('refuses a policy whose calendar cannot be computed', () => {
    assert.throws(
      () => promotionTags(new Date(), resolveRetentionPolicy({ timezone: 'Nowhere/Land' })),
      /BK_ERR|unknown IANA time zone/,
    )
  })
})

describe('promotion tag encoding', () => {
  const roundTrip: Array<[PromotionClass[], string]> = [
    [[...PROMOTION_CLASSES], 'hdwmy'],
    [['hourly'], 'h'],
    [['daily', 'weekly'], 'dw'],
    [['yearly', 'daily'], 'dy'],
    [[], '-'],
  ]
  for (const [tags, s] of roundTrip) {
    it(`[${tags.join(',')}] ⇄ "${s}"`, () => {
      assert.equal(encodePromotionTags(tags), s)
      assert.deepEqual(
        parsePromotionTags(s),
        PROMOTION_CLASSES.filter((c) => tags.includes(c)),
      )
    })
  }
  const untagged: Array<[string, string]> = [
    ['empty string', ''],
    ['unknown letter', 'dq'],
    ['wrong order', 'wd'],
    ['repeat', 'dd'],
    ['upper case', 'D'],
    ['dash with letters', '-d'],
  ]
  for (const [name, s] of untagged) {
    it(`"${s}" (${name}) parses as untagged`, () => assert.equal(parsePromotionTags(s), undefined))
  }
})
