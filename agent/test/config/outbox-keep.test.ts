import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError } from '@backstop/shared'
import { parseAgentConfig } from '../../src/config/load.ts'

const HOUR = 3600_000

function load(outbox: string) {
  return parseAgentConfig(
    `collector: { url: "mqtt://127.0.0.1:1883", enrollmentToken: "q3V9+xk2LrB7tNw0ZpY4sD1f" }\n${outbox}jobs: []\n`,
    'agent.yaml',
    { hostname: 'pve1' },
  )
}

function issues(outbox: string): string[] {
  try {
    load(outbox)
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e))
    return e.issues.map((i) => `${i.line}:${i.field}: ${i.message}`)
  }
  return []
}

describe('agent config: outbox.keep', () => {
  it('is on by default: 256 MiB, 30 days, alert after 48 h', () => {
    assert.deepEqual(load('').outbox.keep, {
      maxBytes: 256 * 1024 * 1024,
      maxAgeMs: 720 * HOUR,
      alertAfterMs: 48 * HOUR,
    })
  })

  it('takes its knobs, and enabled: false turns keeping off', () => {
    const c = load('outbox:\n  keep: { maxBytes: 1048576, maxAgeHours: 72, alertAfterHours: 12 }\n')
    assert.deepEqual(c.outbox.keep, { maxBytes: 1048576, maxAgeMs: 72 * HOUR, alertAfterMs: 12 * HOUR })
    assert.equal(load('outbox:\n  keep: { enabled: false }\n').outbox.keep, undefined)
    assert.equal(
      load('outbox:\n  keep: { maxAgeHours: 24 }\n').outbox.keep?.alertAfterMs,
      12 * HOUR,
      'half a short age bound',
    )
  })

  it('refuses an alert threshold that could never warn before the age bound releases, at its line', () => {
    const got = issues('outbox:\n  keep:\n    maxAgeHours: 24\n    alertAfterHours: 48\n')
    assert.ok(
      got.some((g) => /^5:outbox\.keep\.alertAfterHours: 48 is not below maxAgeHours \(24\)/.test(g)),
      got.join('\n'),
    )
  })

  it('refuses unknown keys and a size below 64 KiB with the field named', () => {
    assert.ok(issues('outbox:\n  keep: { maxBytes: 1000 }\n').some((g) => g.includes('outbox.keep.maxBytes')))
    assert.ok(issues('outbox:\n  keep: { forever: true }\n').some((g) => g.includes('outbox.keep')))
  })
})
