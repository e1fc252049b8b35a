import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createRefusals, type Refusal } from '../../src/broker/refusals.ts'
import { createCounters } from '../../src/metrics/counters.ts'
import { captureLog } from '../support/harness.ts'

const INTERVAL_MS = 10_000

/** Refusals on a clock the test moves by hand. */
function refusals() {
  let now = Date.parse('2026-12-06T10:00:00Z')
  const { log, lines } = captureLog('info')
  const counters = createCounters()
  const r = createRefusals({ log, counters, now: () => new Date(now), intervalMs: INTERVAL_MS })
  const tick = (ms: number): void => {
    now += ms
  }
  return { r, lines, counters, tick }
}

const subscribe: Refusal = {
  counter: 'broker_acl_refused_total',
  reason: 'subscribe',
  code: 'BK_ERR_WIRE_TOPIC',
  msg: 'MQTT SUBSCRIBE refused: a node may subscribe to its own topics only',
  detail: { node: 'pve1' },
}
const oversize: Refusal = {
  counter: 'broker_refused_total',
  reason: 'packet-too-large',
  code: 'BK_ERR_MQTT_PACKET_TOO_LARGE',
  msg: 'MQTT packet too large',
}

describe('refusals: every one counted, each reason logged at most once per interval', () => {
  it('1,000 refusals in one window are one line; the counter counts all 1,000', () => {
    const { r, lines, counters, tick } = refusals()
    for (let i = 0; i < 1000; i++) {
      r.refuse(subscribe)
      tick(5) // 5 s in all: one window
    }
    assert.equal(counters.get('broker_acl_refused_total', 'subscribe'), 1000)
    assert.equal(lines.length, 1)
    const line = lines[0] as Record<string, unknown>
    assert.equal(line['msg'], subscribe.msg)
    assert.equal(line['reason'], 'subscribe')
    assert.equal(line['code'], 'BK_ERR_WIRE_TOPIC')
    assert.equal(line['node'], 'pve1')
    assert.equal(line['level'], 40, 'a warning')
    assert.equal(line['suppressed'], undefined, 'nothing was suppressed before the first line')
  })

  it('the first refusal of a new window logs again, with the count of the lines it stands for', () => {
    const { r, lines, counters, tick } = refusals()
    for (let i = 0; i < 1000; i++) {
      r.refuse(subscribe)
    }
    tick(INTERVAL_MS - 1)
    r.refuse(subscribe)
    assert.equal(lines.length, 1, 'still inside the window')
    tick(1)
    r.refuse(subscribe)
    assert.equal(lines.length, 2, 'the window is over')
    assert.equal(lines[1]?.['suppressed'], 1000)
    assert.equal(lines[1]?.['msg'], `${subscribe.msg} (and 1000 more like it since the last line)`)
    assert.equal(counters.get('broker_acl_refused_total', 'subscribe'), 1002)

    // The window restarts at that line: a quiet one after it has nothing to report.
    tick(INTERVAL_MS)
    r.refuse(subscribe)
    assert.equal(lines.length, 3)
    assert.equal(lines[2]?.['suppressed'], undefined)
    assert.equal(lines[2]?.['msg'], subscribe.msg)
    assert.equal(counters.get('broker_acl_refused_total', 'subscribe'), 1003)
  })

  it('each reason has its own window and its own counter', () => {
    const { r, lines, counters } = refusals()
    for (let i = 0; i < 300; i++) {
      r.refuse(subscribe)
      r.refuse(oversize)
      r.refuse({ ...oversize, reason: 'conn-cap-ip', code: 'BK_ERR_MQTT_CONN_LIMIT' })
    }
    assert.deepEqual(
      lines.map((l) => l['reason']),
      ['subscribe', 'packet-too-large', 'conn-cap-ip'],
    )
    assert.equal(counters.get('broker_acl_refused_total', 'subscribe'), 300)
    assert.equal(counters.get('broker_refused_total', 'packet-too-large'), 300)
    assert.equal(counters.get('broker_refused_total', 'conn-cap-ip'), 300)
    assert.equal(counters.get('broker_refused_total', 'subscribe'), 0, 'counted under its own counter only')
  })
})
