import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseSnapshotTimestamp, snapshotTimestamp } from '@backstop/shared'

describe('snapshotTimestamp', () => {
  const cases: Array<[string, string, string]> = [
    ['plain UTC instant', '2026-11-22T01:45:00.000Z', '20261122T014500Z'],
    ['milliseconds are truncated, never rounded up', '2026-12-31T23:59:59.999Z', '20261231T235959Z'],
    ['Amsterdam 02:30 (first pass, CEST) on the fall-back night', '2026-10-25T00:30:00Z', '20261025T003000Z'],
    ['Amsterdam 02:30 (second pass, CET) on the fall-back night', '2026-10-25T01:30:00Z', '20261025T013000Z'],
    ['leap day', '2028-02-29T12:00:00Z', '20280229T120000Z'],
    ['epoch', '1970-01-01T00:00:00Z', '19700101T000000Z'],
  ]
  for (const [name, iso, expected] of cases) {
    it(name, () => assert.equal(snapshotTimestamp(new Date(iso)), expected))
  }
  it('refuses an invalid Date', () => assert.throws(() => snapshotTimestamp(new Date(Number.NaN)), RangeError))
})

describe('parseSnapshotTimestamp', () => {
  const valid: Array<[string, string]> = [
    ['20261122T014500Z', '2026-11-22T01:45:00.000Z'],
    ['20280229T000000Z', '2028-02-29T00:00:00.000Z'],
    ['00010101T000000Z', '0001-01-01T00:00:00.000Z'],
  ]
  for (const [s, iso] of valid) {
    it(`parses ${s}`, () => assert.equal(parseSnapshotTimestamp(s)?.toISOString(), iso))
  }
  const invalid: Array<[string, string]> = [
    ['empty', ''],
    ['local time (no Z)', '20261122T014500'],
    ['extended ISO format', '2026-11-22T01:45:00Z'],
    ['sanoid name', 'autosnap_2026-11-22_01:45:00_daily'],
    ['month 13', '20261322T014500Z'],
    ['Feb 30', '20260230T000000Z'],
    ['Feb 29 in a common year', '20270229T000000Z'],
    ['hour 24', '20261122T240000Z'],
    ['leap second', '20261231T235960Z'],
    ['trailing text', '20261122T014500Z.dwm'],
    ['leading space', ' 20261122T014500Z'],
  ]
  for (const [name, s] of invalid) {
    it(`rejects ${name}`, () => assert.equal(parseSnapshotTimestamp(s), null))
  }
})
