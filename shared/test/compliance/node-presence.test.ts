import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { judgeNodePresence, type PresenceFacts, type PresencePolicy } from '@backstop/shared'

const T = Date.parse('2026-11-20T00:00:00Z')
const S = 1000
const policy: PresencePolicy = { nodeTimeoutS: 300, nodeDownAfterS: 600, catchUpGraceS: 3600 }
const facts = (over: Partial<PresenceFacts> = {}): PresenceFacts => ({
  status: 'online',
  offlineCause: null,
  statusAt: T,
  heartbeatAt: T,
  wasAway: false,
  backAt: null,
  ...over,
})

describe('node presence: node-down after a delay, folding until catch-up had its grace', () => {
  const cases: {
    name: string
    f: Partial<PresenceFacts>
    now: number
    want: { down: boolean; folding: boolean; severity?: string; downAt?: number | null; nextAt: number | null }
  }[] = [
    {
      name: 'a graceful shutdown is folded but not down within the delay',
      f: { status: 'offline', offlineCause: 'shutdown' },
      now: T + 599 * S,
      want: { down: false, folding: true, downAt: T + 600 * S, nextAt: T + 600 * S },
    },
    {
      name: 'a graceful shutdown not back after the delay is down with warning',
      f: { status: 'offline', offlineCause: 'shutdown' },
      now: T + 600 * S,
      want: { down: true, folding: true, severity: 'warning', downAt: T + 600 * S, nextAt: null },
    },
    {
      name: 'a restart not back after the delay is down with warning too',
      f: { status: 'offline', offlineCause: 'restart' },
      now: T + 601 * S,
      want: { down: true, folding: true, severity: 'warning', nextAt: null },
    },
    {
      name: 'the last will is not down within the delay either',
      f: { status: 'offline', offlineCause: 'lost' },
      now: T + 10 * S,
      want: { down: false, folding: true, nextAt: T + 600 * S },
    },
    {
      name: 'the last will after the delay is critical',
      f: { status: 'offline', offlineCause: 'lost' },
      now: T + 600 * S,
      want: { down: true, folding: true, severity: 'critical', downAt: T + 600 * S, nextAt: null },
    },
    {
      name: 'an offline status without a cause (an older agent) is a last will',
      f: { status: 'offline', offlineCause: null },
      now: T + 700 * S,
      want: { down: true, folding: true, severity: 'critical', nextAt: null },
    },
    {
      name: 'a silent node is down at last heartbeat + timeout, critical',
      f: { heartbeatAt: T },
      now: T + 300 * S,
      want: { down: true, folding: true, severity: 'critical', downAt: T + 300 * S, nextAt: null },
    },
    {
      name: 'a live node is re-judged at its heartbeat deadline',
      f: { heartbeatAt: T },
      now: T + 10 * S,
      want: { down: false, folding: false, nextAt: T + 300 * S },
    },
    {
      name: 'a node never seen is neither down nor folding',
      f: { status: 'unknown', statusAt: null, heartbeatAt: null },
      now: T,
      want: { down: false, folding: false, nextAt: null },
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const j = judgeNodePresence(facts(c.f), policy, c.now)
      assert.equal(j.down, c.want.down)
      assert.equal(j.folding, c.want.folding)
      assert.equal(j.nextAt, c.want.nextAt)
      if (c.want.severity !== undefined) {
        assert.equal(j.severity, c.want.severity)
      }
      if (c.want.downAt !== undefined) {
        assert.equal(j.downAt, c.want.downAt)
      }
      assert.equal(j.reason === null, !j.folding || j.awaySince === null)
    })
  }

  it('a node that comes back keeps its asset alerts folded for the catch-up grace, then releases them', () => {
    const back = T + 20 * 60 * S
    const first = judgeNodePresence(facts({ wasAway: true, heartbeatAt: back, statusAt: back }), policy, back)
    assert.equal(first.down, false)
    assert.equal(first.backAt, back, 'the return is remembered')
    assert.equal(first.folding, true)
    assert.equal(first.nextAt, back + 300 * S, 'the heartbeat deadline comes before the end of the grace')
    const later = judgeNodePresence(
      facts({ heartbeatAt: back + 3599 * S, backAt: first.backAt }),
      policy,
      back + 3599 * S,
    )
    assert.equal(later.folding, true)
    assert.equal(later.nextAt, back + 3600 * S, 'the end of the grace is the next deadline')
    const done = judgeNodePresence(
      facts({ heartbeatAt: back + 3599 * S, backAt: first.backAt }),
      policy,
      back + 3600 * S,
    )
    assert.equal(done.folding, false)
    assert.equal(done.nextAt, back + 3599 * S + 300 * S)
  })

  it('names the cause in the reason', () => {
    const shut = judgeNodePresence(facts({ status: 'offline', offlineCause: 'shutdown' }), policy, T + 600 * S)
    assert.match(shut.reason!, /stopped on purpose \(shutdown\) at 2026-11-20T00:00:00.000Z and not back after 600 s/)
    const lost = judgeNodePresence(facts({ status: 'offline', offlineCause: 'lost' }), policy, T + 600 * S)
    assert.match(lost.reason!, /connection lost: last will/)
  })
})
