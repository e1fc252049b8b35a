import assert from 'node:assert/strict'
import { test } from 'node:test'
import { inTimeWindow, nextWindowStart, parseTimeWindow } from '../../src/schedule/time-window.ts'

test('a night window: inside from its start to just before its end, in the job’s zone', () => {
  const w = parseTimeWindow('01:00-05:00', 'Europe/Amsterdam', 'jobs.x.targets[0].window')
  for (const [utc, inside] of [
    ['2026-11-10T23:59:00Z', false], // 00:59 in Amsterdam (UTC+1)
    ['2026-11-11T00:00:00Z', true], // 01:00
    ['2026-11-11T03:59:00Z', true], // 04:59
    ['2026-11-11T04:00:00Z', false], // 05:00
    ['2026-11-11T12:00:00Z', false],
  ] as const) {
    assert.equal(inTimeWindow(w, new Date(utc)), inside, utc)
  }
  assert.equal(nextWindowStart(w, new Date('2026-11-11T12:00:00Z')).toISOString(), '2026-11-12T00:00:00.000Z')
  assert.equal(nextWindowStart(w, new Date('2026-11-10T23:30:00Z')).toISOString(), '2026-11-11T00:00:00.000Z')
})

test('a window across midnight, and 24:00 as an end', () => {
  const w = parseTimeWindow('22:00-02:00', 'UTC', 'w')
  assert.deepEqual(
    ['21:59', '22:00', '23:59', '00:00', '01:59', '02:00'].map((h) => inTimeWindow(w, new Date(`2026-11-10T${h}:00Z`))),
    [false, true, true, true, true, false],
  )
  const evening = parseTimeWindow('18:00-24:00', 'UTC', 'w')
  assert.equal(inTimeWindow(evening, new Date('2026-11-10T23:59:00Z')), true)
  assert.equal(inTimeWindow(evening, new Date('2026-11-10T00:00:00Z')), false)
})

test('malformed windows are refused with the field and the expected form', () => {
  for (const [text, why] of [
    ['1:00-5:00', /is not a time window/],
    ['01:00-01:00', /starts where it ends/],
    ['00:00-24:00', /starts where it ends/],
    ['25:00-05:00', /is not a time window/],
    ['01:00-24:30', /ends after 24:00/],
  ] as const) {
    assert.throws(
      () => parseTimeWindow(text, 'UTC', 'jobs.x.targets[0].window'),
      (e: Error) => {
        assert.match(e.message, /jobs\.x\.targets\[0\]\.window: /)
        assert.match(e.message, why)
        assert.match(e.message, /expected HH:MM-HH:MM/)
        return true
      },
    )
  }
})
