import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Compile } from 'typebox/compile'
import {
  assertValidRetentionPolicy,
  BackstopError,
  describeRetentionPolicy,
  isBackstopError,
  resolveRetentionPolicy,
  retentionPolicyIssues,
  RetentionPolicyInput,
  type RetentionPolicy,
} from '@backstop/shared'

const check = Compile(RetentionPolicyInput)

describe('RetentionPolicyInput schema', () => {
  const accepted: Array<[string, unknown]> = [
    ['empty (all defaults)', {}],
    [
      'full',
      {
        timezone: 'Europe/Amsterdam',
        keep: { last: 3, hourly: 24, daily: 30, weekly: 12, monthly: 12, yearly: 7 },
        promote: { weekday: 'monday', monthDay: 15, yearStart: '04-06' },
      },
    ],
    ['zero counts are allowed by the schema (the validator judges the whole)', { keep: { daily: 0 } }],
  ]
  for (const [name, input] of accepted) {
    it(`accepts ${name}`, () => assert.equal(check.Check(input), true))
  }
  const rejected: Array<[string, unknown]> = [
    ['negative count', { keep: { daily: -1 } }],
    ['fractional count', { keep: { daily: 1.5 } }],
    ['unknown keep class', { keep: { fortnightly: 2 } }],
    ['weekday abbreviation', { promote: { weekday: 'sun' } }],
    ['month day 29 (February has none)', { promote: { monthDay: 29 } }],
    ['yearStart not MM-DD', { promote: { yearStart: '1-1' } }],
    ['yearStart month 13', { promote: { yearStart: '13-01' } }],
    ['unknown top-level field', { keepLast: 3 }],
  ]
  for (const [name, input] of rejected) {
    it(`rejects ${name}`, () => assert.equal(check.Check(input), false))
  }
})

describe('resolveRetentionPolicy', () => {
  it('resolves the issue defaults: daily 30, weekly 12 on Sunday, monthly 12 from the 1st, yearly 7 from Jan 1', () => {
    assert.deepEqual(resolveRetentionPolicy(undefined, 'Europe/Amsterdam'), {
      timezone: 'Europe/Amsterdam',
      keep: { last: 1, hourly: 0, daily: 30, weekly: 12, monthly: 12, yearly: 7 },
      promote: { weekday: 'sunday', monthDay: 1, yearStart: { month: 1, day: 1 } },
    })
  })
  it('overrides only what is given; its own zone wins over the agent default', () => {
    const p = resolveRetentionPolicy(
      { timezone: 'America/New_York', keep: { hourly: 48, yearly: 0 }, promote: { yearStart: '04-06' } },
      'UTC',
    )
    assert.equal(p.timezone, 'America/New_York')
    assert.deepEqual(p.keep, { last: 1, hourly: 48, daily: 30, weekly: 12, monthly: 12, yearly: 0 })
    assert.deepEqual(p.promote.yearStart, { month: 4, day: 6 })
  })
})

describe('retentionPolicyIssues', () => {
  const base = resolveRetentionPolicy({})
  const withKeep = (keep: Partial<RetentionPolicy['keep']>): RetentionPolicy => ({
    ...base,
    keep: { ...base.keep, ...keep },
  })
  const none = { last: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 }
  const cases: Array<[string, RetentionPolicy, Array<[string, RegExp]>]> = [
    ['defaults are fine', base, []],
    ['keep-last only is fine', withKeep({ ...none, last: 5 }), []],
    ['yearly only is fine', withKeep({ ...none, yearly: 1 }), []],
    ['all counts 0 would delete everything', withKeep(none), [['keep', /every keep count is 0.*set at least one/]]],
    ['unknown zone', { ...base, timezone: 'Mars/Olympus' }, [['timezone', /unknown IANA time zone "Mars\/Olympus"/]]],
    [
      'Feb 29 year start',
      { ...base, promote: { ...base.promote, yearStart: { month: 2, day: 29 } } },
      [['promote.yearStart', /not a day every year has/]],
    ],
    [
      'Apr 31 year start',
      { ...base, promote: { ...base.promote, yearStart: { month: 4, day: 31 } } },
      [['promote.yearStart', /not a day every year has/]],
    ],
    ['month day 31', { ...base, promote: { ...base.promote, monthDay: 31 } }, [['promote.monthDay', /1–28/]]],
  ]
  for (const [name, policy, expected] of cases) {
    it(name, () => {
      const issues = retentionPolicyIssues(policy)
      assert.equal(issues.length, expected.length, JSON.stringify(issues))
      expected.forEach(([path, re], i) => {
        assert.equal(issues[i]!.path.join('.'), path)
        assert.match(issues[i]!.message, re)
      })
    })
  }
  it('assertValidRetentionPolicy throws BK_ERR_CONFIG_INVALID naming the field', () => {
    assert.throws(
      () => assertValidRetentionPolicy(withKeep(none), 'jobs[2].retention'),
      (e: unknown) => {
        assert.ok(e instanceof BackstopError && isBackstopError(e, 'BK_ERR_CONFIG_INVALID'))
        assert.match(e.message, /jobs\[2\]\.retention\.keep: every keep count is 0/)
        return true
      },
    )
  })
  it('assertValidRetentionPolicy accepts the defaults', () =>
    assert.doesNotThrow(() => assertValidRetentionPolicy(base)))
})

describe('describeRetentionPolicy', () => {
  const cases: Array<[RetentionPolicyInput, string]> = [
    [
      { timezone: 'Europe/Amsterdam' },
      'last 1, daily 30, weekly 12 (from sunday), monthly 12 (from the 1st), yearly 7 (from Jan 1) in Europe/Amsterdam',
    ],
    [
      { keep: { last: 0, hourly: 24, daily: 0, weekly: 0, monthly: 3, yearly: 0 }, promote: { monthDay: 22 } },
      'hourly 24, monthly 3 (from the 22nd) in UTC',
    ],
    [
      { keep: { last: 0, daily: 0, weekly: 0, monthly: 0, yearly: 2 }, promote: { yearStart: '04-06' } },
      'yearly 2 (from Apr 6) in UTC',
    ],
    [{ keep: { last: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 } }, 'nothing but the newest copy in UTC'],
  ]
  for (const [input, text] of cases) {
    it(text, () => assert.equal(describeRetentionPolicy(resolveRetentionPolicy(input)), text))
  }
})
