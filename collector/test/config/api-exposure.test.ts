import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { checkApiExposure, isLoopbackHost } from '../../src/config/api-exposure.ts'
import { OFF_ON_NETWORK, type AuthMode } from '../../src/config/schema.ts'

describe('api exposure', () => {
  it('knows loopback hosts', () => {
    const cases: [string, boolean][] = [
      ['127.0.0.1', true],
      ['127.8.9.10', true],
      ['::1', true],
      ['::ffff:127.0.0.1', true],
      ['localhost', true],
      ['0.0.0.0', false],
      ['::', false],
      ['192.168.1.10', false],
      ['fe80::1', false],
      ['collector.lan', false],
      ['localhost.evil.example', false],
    ]
    for (const [host, want] of cases) {
      assert.equal(isLoopbackHost(host), want, host)
    }
  })

  it('required is silent; off warns on loopback and is refused elsewhere; the long value is a louder warning', () => {
    const cases: [host: string, auth: AuthMode, outcome: 'silent' | 'warn' | 'refused'][] = [
      ['0.0.0.0', 'required', 'silent'],
      ['127.0.0.1', 'off', 'warn'],
      ['::1', 'off', 'warn'],
      ['0.0.0.0', 'off', 'refused'],
      ['192.168.1.10', 'off', 'refused'],
      ['0.0.0.0', OFF_ON_NETWORK, 'warn'],
    ]
    for (const [host, auth, outcome] of cases) {
      const got = ((): string => {
        try {
          return checkApiExposure({ host, auth }) === undefined ? 'silent' : 'warn'
        } catch {
          return 'refused'
        }
      })()
      assert.equal(got, outcome, `${host} ${auth}`)
    }
    assert.match(checkApiExposure({ host: '0.0.0.0', auth: OFF_ON_NETWORK })!, /anyone who can reach it/)
  })
})
