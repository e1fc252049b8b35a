import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  isBackstopError,
  planRetention,
  resolveRetentionPolicy,
  type PromotionClass,
  type RetentionPolicyInput,
  type RetentionSnapshot,
} from '@backstop/shared'

interface Opts {
  tags?: PromotionClass[]
  held?: boolean
  failed?: boolean
}
type Snap = [id: string, createdAt: string, opts?: Opts]
/**
 * Expected per id: the reasons joined with " | " for a keep, or "DESTROY" (the destroy reason is checked separately).
 */
type Expected = Record<string, string>

const NONE = { last: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 }

function snapshots(list: Snap[]): RetentionSnapshot[] {
  return list.map(([id, iso, o = {}]) => ({
    id,
    createdAt: new Date(iso),
    tags: o.tags,
    held: o.held ?? false,
    successful: !(o.failed ?? false),
  }))
}

function decide(policy: RetentionPolicyInput, list: Snap[], now: string): Expected {
  const out: Expected = {}
  for (const d of planRetention(snapshots(list), resolveRetentionPolicy(policy), new Date(now))) {
    out[d.id] = d.action === 'keep' ? d.reasons.join(' | ') : 'DESTROY'
  }
  return out
}

const cases: Array<[string, RetentionPolicyInput, Snap[], string, Expected]> = [
  [
    'keep-last only',
    { keep: { ...NONE, last: 3 } },
    [
      ['a', '2026-11-20T00:00:00Z'],
      ['b', '2026-11-20T01:00:00Z'],
      ['c', '2026-11-20T02:00:00Z'],
      ['d', '2026-11-20T03:00:00Z'],
      ['e', '2026-11-20T04:00:00Z'],
      ['f', '2026-11-20T05:00:00Z'],
    ],
    '2026-11-21T00:00:00Z',
    { a: 'DESTROY', b: 'DESTROY', c: 'DESTROY', d: 'last(3)', e: 'last(3)', f: 'newest successful copy | last(3)' },
  ],

  [
    'hourly: the first snapshot of each of the 3 newest hours',
    { keep: { ...NONE, hourly: 3 } },
    [
      ['1000', '2026-11-20T10:00:00Z'],
      ['1020', '2026-11-20T10:20:00Z'],
      ['1040', '2026-11-20T10:40:00Z'],
      ['1100', '2026-11-20T11:00:00Z'],
      ['1120', '2026-11-20T11:20:00Z'],
      ['1205', '2026-11-20T12:05:00Z'],
      ['1240', '2026-11-20T12:40:00Z'],
    ],
    '2026-11-20T13:00:00Z',
    {
      1000: 'hourly(3): 2026-11-20T10:00+00:00',
      1020: 'DESTROY',
      1040: 'DESTROY',
      1100: 'hourly(3): 2026-11-20T11:00+00:00',
      1120: 'DESTROY',
      1205: 'hourly(3): 2026-11-20T12:00+00:00',
      1240: 'newest successful copy',
    },
  ],

  [
    'Sunday promotion in Amsterdam: Saturday 23:30 UTC is the Sunday weekly',
    { timezone: 'Europe/Amsterdam', keep: { ...NONE, weekly: 2 } },
    [
      ['fri', '2026-11-06T23:30:00Z'],
      ['sat', '2026-11-07T23:30:00Z'],
      ['mon', '2026-11-09T23:30:00Z'],
      ['sat2', '2026-11-14T23:30:00Z'],
      ['sun2', '2026-11-15T12:00:00Z'],
      ['wed', '2026-11-18T23:30:00Z'],
      ['sat3', '2026-11-21T23:30:00Z'],
    ],
    '2026-11-22T12:00:00Z',
    {
      fri: 'DESTROY',
      sat: 'DESTROY',
      mon: 'DESTROY',
      sat2: 'weekly(2): 2026-11-15',
      sun2: 'DESTROY',
      wed: 'DESTROY',
      sat3: 'newest successful copy | weekly(2): 2026-11-22',
    },
  ],

  [
    'month boundaries in Amsterdam (UTC+1): 23:30 UTC on Oct 31 is November',
    { timezone: 'Europe/Amsterdam', keep: { ...NONE, monthly: 3 } },
    [
      ['oct31', '2026-10-31T22:30:00Z'],
      ['nov1', '2026-10-31T23:30:00Z'],
      ['nov1b', '2026-11-01T12:00:00Z'],
      ['nov30', '2026-11-30T22:59:00Z'],
      ['dec1', '2026-11-30T23:00:00Z'],
    ],
    '2026-12-01T10:00:00Z',
    {
      oct31: 'monthly(3): 2026-10',
      nov1: 'monthly(3): 2026-11',
      nov1b: 'DESTROY',
      nov30: 'DESTROY',
      dec1: 'newest successful copy | monthly(3): 2026-12',
    },
  ],

  [
    'month boundaries in New York (UTC-4): 03:30 UTC on Nov 1 is still October',
    { timezone: 'America/New_York', keep: { ...NONE, monthly: 2 } },
    [
      ['oct', '2026-10-15T12:00:00Z'],
      ['oct31', '2026-11-01T03:30:00Z'],
      ['nov1', '2026-11-01T04:30:00Z'],
      ['nov2', '2026-11-02T12:00:00Z'],
    ],
    '2026-11-03T00:00:00Z',
    { oct: 'monthly(2): 2026-10', oct31: 'DESTROY', nov1: 'monthly(2): 2026-11', nov2: 'newest successful copy' },
  ],

  [
    'monthDay 15: months run from the 15th',
    { keep: { ...NONE, monthly: 2 }, promote: { monthDay: 15 } },
    [
      ['nov14', '2026-11-14T12:00:00Z'],
      ['nov15', '2026-11-15T12:00:00Z'],
      ['dec14', '2026-12-14T12:00:00Z'],
      ['dec20', '2026-12-20T12:00:00Z'],
    ],
    '2026-12-21T00:00:00Z',
    {
      nov14: 'DESTROY',
      nov15: 'monthly(2): 2026-11-15',
      dec14: 'DESTROY',
      dec20: 'newest successful copy | monthly(2): 2026-12-15',
    },
  ],

  [
    'Jan 1 in New York: 00:30 EST (05:30 UTC) starts the year',
    { timezone: 'America/New_York', keep: { ...NONE, yearly: 7 } },
    [
      ['jun', '2026-06-01T12:00:00Z'],
      ['dec31', '2026-12-31T23:00:00Z'],
      ['dec31late', '2027-01-01T04:59:00Z'],
      ['jan1', '2027-01-01T05:30:00Z'],
      ['jan2', '2027-01-02T12:00:00Z'],
    ],
    '2027-01-03T00:00:00Z',
    {
      jun: 'yearly(7): 2026',
      dec31: 'DESTROY',
      dec31late: 'DESTROY',
      jan1: 'yearly(7): 2027',
      jan2: 'newest successful copy',
    },
  ],

  [
    'untagged → oldest in the period; a creation-time tag wins over an older snapshot without it',
    { keep: { ...NONE, daily: 3 } },
    [
      ['u1', '2026-11-19T10:00:00Z', { tags: ['hourly'] }],
      ['u2', '2026-11-19T11:00:00Z', { tags: ['hourly'] }],
      ['s1', '2026-11-20T08:00:00Z'],
      ['s2', '2026-11-20T09:00:00Z'],
      ['t1', '2026-11-21T01:00:00Z', { tags: ['hourly'] }],
      ['t2', '2026-11-21T06:00:00Z', { tags: ['hourly', 'daily'] }],
      ['t3', '2026-11-21T07:00:00Z', { tags: [] }],
    ],
    '2026-11-22T00:00:00Z',
    {
      u1: 'daily(3): 2026-11-19',
      u2: 'DESTROY',
      s1: 'daily(3): 2026-11-20',
      s2: 'DESTROY',
      t1: 'DESTROY',
      t2: 'daily(3): 2026-11-21',
      t3: 'newest successful copy',
    },
  ],

  [
    'held snapshots are never destroyed, failed or not',
    { keep: { ...NONE, last: 1 } },
    [
      ['old', '2026-01-01T00:00:00Z', { held: true }],
      ['mid', '2026-06-01T00:00:00Z', { held: true, failed: true }],
      ['other', '2026-07-01T00:00:00Z'],
      ['new', '2026-11-20T00:00:00Z'],
    ],
    '2026-11-21T00:00:00Z',
    { old: 'held', mid: 'held', other: 'DESTROY', new: 'newest successful copy | last(1)' },
  ],

  [
    'failed snapshots fill no slot; newer than the newest good one they stay',
    { keep: { ...NONE, daily: 2 } },
    [
      ['f1', '2026-11-20T08:00:00Z', { failed: true }],
      ['s1', '2026-11-20T09:00:00Z'],
      ['s2', '2026-11-21T08:00:00Z'],
      ['f2', '2026-11-21T10:00:00Z', { failed: true }],
      ['f3', '2026-11-21T12:00:00Z', { failed: true }],
    ],
    '2026-11-22T00:00:00Z',
    {
      f1: 'DESTROY',
      s1: 'daily(2): 2026-11-20',
      s2: 'newest successful copy | daily(2): 2026-11-21',
      f2: 'no newer successful copy',
      f3: 'no newer successful copy',
    },
  ],

  [
    'all failed: nothing is destroyed',
    { keep: { ...NONE, last: 1 } },
    [
      ['f1', '2026-11-20T08:00:00Z', { failed: true }],
      ['f2', '2026-11-21T08:00:00Z', { failed: true }],
    ],
    '2026-11-22T00:00:00Z',
    { f1: 'no newer successful copy', f2: 'no newer successful copy' },
  ],

  [
    'a snapshot created after now (clock skew) is kept and is not "the newest"',
    { keep: { ...NONE, last: 1 } },
    [
      ['a', '2026-11-20T08:00:00Z'],
      ['b', '2026-11-21T08:00:00Z'],
      ['future', '2026-11-25T08:00:00Z'],
    ],
    '2026-11-22T00:00:00Z',
    { a: 'DESTROY', b: 'newest successful copy | last(1)', future: 'created after now (clock skew?)' },
  ],

  [
    'counts are periods that have a snapshot: a node off for two weeks keeps its older dailies',
    { keep: { ...NONE, daily: 3 } },
    [
      ['nov1', '2026-11-01T12:00:00Z'],
      ['nov2', '2026-11-02T12:00:00Z'],
      ['nov3', '2026-11-03T12:00:00Z'],
      ['nov4', '2026-11-04T12:00:00Z'],
      ['nov20', '2026-11-20T12:00:00Z'],
      ['nov21', '2026-11-21T12:00:00Z'],
    ],
    '2026-11-21T13:00:00Z',
    {
      nov1: 'DESTROY',
      nov2: 'DESTROY',
      nov3: 'DESTROY',
      nov4: 'daily(3): 2026-11-04',
      nov20: 'daily(3): 2026-11-20',
      nov21: 'newest successful copy | daily(3): 2026-11-21',
    },
  ],

  [
    'the 25-hour fall-back day in Amsterdam: one daily, two distinct 02:00 hours',
    { timezone: 'Europe/Amsterdam', keep: { ...NONE, hourly: 4, daily: 1 } },
    [
      ['0030cest', '2026-10-24T22:30:00Z'],
      ['0230cest', '2026-10-25T00:30:00Z'],
      ['0245cest', '2026-10-25T00:45:00Z'],
      ['0215cet', '2026-10-25T01:15:00Z'],
      ['0300cet', '2026-10-25T02:00:00Z'],
    ],
    '2026-10-25T03:00:00Z',
    {
      '0030cest': 'hourly(4): 2026-10-25T00:00+02:00 | daily(1): 2026-10-25',
      '0230cest': 'hourly(4): 2026-10-25T02:00+02:00',
      '0245cest': 'DESTROY',
      '0215cet': 'hourly(4): 2026-10-25T02:00+01:00',
      '0300cet': 'newest successful copy | hourly(4): 2026-10-25T03:00+01:00',
    },
  ],
]

describe('planRetention', () => {
  for (const [name, policy, list, now, expected] of cases) {
    it(name, () => assert.deepEqual(decide(policy, list, now), expected))
  }

  it('a destroy names why and the newer successful copy that justifies it', () => {
    const d = planRetention(
      snapshots([
        ['f', '2026-11-20T08:00:00Z', { failed: true }],
        ['x', '2026-11-20T09:00:00Z'],
        ['n', '2026-11-21T09:00:00Z'],
      ]),
      resolveRetentionPolicy({ keep: { ...NONE, last: 1 } }),
      new Date('2026-11-22T00:00:00Z'),
    )
    assert.deepEqual(
      d.map((x) => [x.id, x.action, x.reasons]),
      [
        ['f', 'destroy', ['failed copy; newer successful copy n kept']],
        ['x', 'destroy', ['kept by no rule; newer successful copy n kept']],
        ['n', 'keep', ['newest successful copy', 'last(1)']],
      ],
    )
  })

  it('an all-zero policy (refused by configcheck) still keeps the newest successful copy', () => {
    assert.deepEqual(
      decide(
        { keep: NONE },
        [
          ['a', '2026-11-20T00:00:00Z'],
          ['b', '2026-11-21T00:00:00Z'],
        ],
        '2026-11-22T00:00:00Z',
      ),
      { a: 'DESTROY', b: 'newest successful copy' },
    )
  })

  it('no snapshots, no decisions', () =>
    assert.deepEqual(planRetention([], resolveRetentionPolicy({}), new Date('2026-11-22T00:00:00Z')), []))

  const bad: Array<[string, RetentionSnapshot[], string, RegExp]> = [
    [
      'duplicate ids',
      snapshots([
        ['a', '2026-11-20T00:00:00Z'],
        ['a', '2026-11-21T00:00:00Z'],
      ]),
      '2026-11-22T00:00:00Z',
      /"a" appears twice/,
    ],
    ['an invalid createdAt', snapshots([['a', 'not a date']]), '2026-11-22T00:00:00Z', /"a" has no valid createdAt/],
    ['an invalid now', snapshots([['a', '2026-11-20T00:00:00Z']]), 'never', /`now` is not a valid Date/],
  ]
  for (const [name, list, now, re] of bad) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => planRetention(list, resolveRetentionPolicy({}), new Date(now)),
        (e: unknown) => isBackstopError(e) && re.test(e.message),
      )
    })
  }
  it('refuses a policy with an unknown zone (BK_ERR_CONFIG_INVALID)', () => {
    assert.throws(
      () => planRetention([], resolveRetentionPolicy({ timezone: 'Europe/Atlantis' }), new Date(0)),
      (e: unknown) => isBackstopError(e, 'BK_ERR_CONFIG_INVALID'),
    )
  })
})
