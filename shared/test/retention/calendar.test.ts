import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Compile } from 'typebox/compile'
import {
  calendarPeriods,
  resolveRetentionPolicy,
  retentionPolicyIssues,
  RetentionPolicyInput,
  type CalendarPeriods,
} from '@backstop/shared'

describe('calendarPeriods', () => {
  const cases: Array<[string, RetentionPolicyInput, string, CalendarPeriods]> = [
    [
      'UTC defaults',
      {},
      '2026-11-22T01:45:00Z',
      {
        hourly: '2026-11-22T01:00+00:00',
        daily: '2026-11-22',
        weekly: '2026-11-22',
        monthly: '2026-11',
        yearly: '2026',
      },
    ],
    [
      'Amsterdam: Saturday 23:30 UTC is Sunday',
      { timezone: 'Europe/Amsterdam' },
      '2026-11-14T23:30:00Z',
      {
        hourly: '2026-11-15T00:00+01:00',
        daily: '2026-11-15',
        weekly: '2026-11-15',
        monthly: '2026-11',
        yearly: '2026',
      },
    ],
    [
      'Amsterdam: a Saturday belongs to the week that started the Sunday before',
      { timezone: 'Europe/Amsterdam' },
      '2026-11-21T12:00:00Z',
      {
        hourly: '2026-11-21T13:00+01:00',
        daily: '2026-11-21',
        weekly: '2026-11-15',
        monthly: '2026-11',
        yearly: '2026',
      },
    ],
    [
      'New York: New Year 00:30 EST',
      { timezone: 'America/New_York' },
      '2027-01-01T05:30:00Z',
      {
        hourly: '2027-01-01T00:00-05:00',
        daily: '2027-01-01',
        weekly: '2026-12-27',
        monthly: '2027-01',
        yearly: '2027',
      },
    ],
    [
      'New York: the evening before is still 2026',
      { timezone: 'America/New_York' },
      '2027-01-01T04:59:59Z',
      {
        hourly: '2026-12-31T23:00-05:00',
        daily: '2026-12-31',
        weekly: '2026-12-27',
        monthly: '2026-12',
        yearly: '2026',
      },
    ],
    [
      'Kolkata: +05:30 hours start at :30 UTC',
      { timezone: 'Asia/Kolkata' },
      '2026-01-31T18:29:00Z',
      {
        hourly: '2026-01-31T23:00+05:30',
        daily: '2026-01-31',
        weekly: '2026-01-25',
        monthly: '2026-01',
        yearly: '2026',
      },
    ],
    [
      'Kolkata: one minute later it is February',
      { timezone: 'Asia/Kolkata' },
      '2026-01-31T18:30:00Z',
      {
        hourly: '2026-02-01T00:00+05:30',
        daily: '2026-02-01',
        weekly: '2026-02-01',
        monthly: '2026-02',
        yearly: '2026',
      },
    ],
    [
      'Lord Howe: the repeated half hour after the 30-minute fall-back',
      { timezone: 'Australia/Lord_Howe' },
      '2026-04-04T15:10:00Z',
      {
        hourly: '2026-04-05T01:00+10:30',
        daily: '2026-04-05',
        weekly: '2026-04-05',
        monthly: '2026-04',
        yearly: '2026',
      },
    ],
    [
      'Chatham +13:45 in summer',
      { timezone: 'Pacific/Chatham' },
      '2026-12-31T10:15:00Z',
      {
        hourly: '2027-01-01T00:00+13:45',
        daily: '2027-01-01',
        weekly: '2026-12-27',
        monthly: '2027-01',
        yearly: '2027',
      },
    ],
    [
      'weekday monday, monthDay 15, yearStart 04-06',
      { promote: { weekday: 'monday', monthDay: 15, yearStart: '04-06' } },
      '2027-04-05T12:00:00Z',
      {
        hourly: '2027-04-05T12:00+00:00',
        daily: '2027-04-05',
        weekly: '2027-04-05',
        monthly: '2027-03-15',
        yearly: '2026-04-06',
      },
    ],
    [
      'monthDay 15 in January rolls back into December of the previous year',
      { promote: { monthDay: 15 } },
      '2027-01-03T00:00:00Z',
      {
        hourly: '2027-01-03T00:00+00:00',
        daily: '2027-01-03',
        weekly: '2027-01-03',
        monthly: '2026-12-15',
        yearly: '2027',
      },
    ],
    [
      'weekday saturday across a month end',
      { promote: { weekday: 'saturday' } },
      '2026-03-02T00:00:00Z',
      {
        hourly: '2026-03-02T00:00+00:00',
        daily: '2026-03-02',
        weekly: '2026-02-28',
        monthly: '2026-03',
        yearly: '2026',
      },
    ],
  ]
  for (const [name, input, at, expected] of cases) {
    it(name, () => assert.deepEqual(calendarPeriods(new Date(at), resolveRetentionPolicy(input)), expected))
  }
})

describe('policy validation over any schema-valid input', () => {
  const check = Compile(RetentionPolicyInput)
  const count = fc.option(fc.nat(3), { nil: undefined })
  const input = fc
    .record({
      timezone: fc.option(fc.constantFrom('UTC', 'Europe/Amsterdam', 'America/New_York'), { nil: undefined }),
      keep: fc.option(
        fc.record({ last: count, hourly: count, daily: count, weekly: count, monthly: count, yearly: count }),
        { nil: undefined },
      ),
    })
    .map((r) => JSON.parse(JSON.stringify(r)) as RetentionPolicyInput)
  it('accepts exactly the policies that keep something', () => {
    fc.assert(
      fc.property(input, (i) => {
        assert.ok(check.Check(i), JSON.stringify(i))
        const p = resolveRetentionPolicy(i)
        const keepsSomething = Object.values(p.keep).some((n) => n > 0)
        assert.equal(retentionPolicyIssues(p).length === 0, keepsSomething)
      }),
      { numRuns: 2000 },
    )
  })
})
