import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError } from '@backstop/shared'
import { parseAgentConfig } from '../../src/config/load.ts'
import { isLoopback } from '../../src/config/collector-checks.ts'

const TOKEN = 'bk_0a1b2c3d_Qm9ZpR3vT8wXyL2nK5sJ7dF1gH4jA6cE0bN9uV2iO3q'

function parse(collector: string): ReturnType<typeof parseAgentConfig> {
  return parseAgentConfig(`collector: ${collector}\njobs: []\n`, 'agent.yaml', { hostname: 'pve1' })
}

function issues(collector: string): string[] {
  try {
    parse(collector)
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e))
    return e.issues.map((i) => `${i.line}:${i.field}: ${i.message}`)
  }
  return []
}

describe('agent config: collector transport', () => {
  const table: [string, string, RegExp | null][] = [
    ['loopback IPv4', '{ url: "mqtt://127.0.0.1:1883" }', null],
    ['loopback 127/8', '{ url: "mqtt://127.3.2.1:1883" }', null],
    ['localhost', '{ url: "mqtt://localhost:1883" }', null],
    ['IPv6 loopback', '{ url: "mqtt://[::1]:1883" }', null],
    ['TLS to the network', `{ url: "mqtts://collector.lan:8883", fingerprint: "${'AB:'.repeat(31)}AB" }`, null],
    [
      'plaintext to a LAN name',
      '{ url: "mqtt://collector.lan:1883" }',
      new RegExp(
        String.raw`1:collector\.url: plaintext mqtt:\/\/ to collector\.lan.*CONNECT password.*in clear` +
          String.raw`.*mqtts:\/\/collector\.lan:1883.*fingerprint.*allowInsecurePlaintext: true`,
      ),
    ],
    ['plaintext to a LAN address', '{ url: "mqtt://192.168.1.10:1883" }', /CONNECT password/],
    ['plaintext to 0.0.0.0', '{ url: "mqtt://0.0.0.0:1883" }', /CONNECT password/],
    ['plaintext to a look-alike name', '{ url: "mqtt://127.0.0.1.evil.example:1883" }', /CONNECT password/],
    ['plaintext, explicitly allowed', '{ url: "mqtt://collector.lan:1883", allowInsecurePlaintext: true }', null],
    ['allow must be a boolean', '{ url: "mqtt://collector.lan:1883", allowInsecurePlaintext: "yes" }', /boolean/],
  ]
  for (const [name, collector, want] of table) {
    it(name, () => {
      const got = issues(collector)
      if (want === null) {
        assert.deepEqual(got, [])
      } else {
        assert.ok(
          got.some((g) => want.test(g)),
          `expected ${want}; got:\n${got.join('\n')}`,
        )
      }
    })
  }

  it('isLoopback', () => {
    for (const h of ['localhost', 'db.localhost', '127.0.0.1', '127.255.0.9', '[::1]', '::1', '::ffff:127.0.0.1']) {
      assert.equal(isLoopback(h), true, h)
    }
    for (const h of ['10.0.0.1', '0.0.0.0', '::', 'collector', '128.0.0.1', 'localhost.example.com', '[::2]']) {
      assert.equal(isLoopback(h), false, h)
    }
  })
})

describe('agent config: enrollment token', () => {
  const table: [string, string, RegExp | null][] = [
    ['a one-time token', TOKEN, null],
    ['a long random static token', 'q3V9+xk2LrB7tNw0ZpY4sD1f', null],
    ['the minimal sample placeholder', 'change-me', /"change-me" is a placeholder.*backstop-collector token create/],
    ['a replace-with placeholder', 'replace-with-a-long-random-token', /placeholder/],
    ['angle brackets', '<enrollment token from the collector>', /placeholder/],
    ['an ellipsis', '3f9c…', /placeholder/],
    ['short', 'Zq8vR2k', /7 characters; at least 16/],
    ['long but no variety', 'aaaaaaaaaaaaaaaaaaaaaa', /distinct characters/],
  ]
  for (const [name, token, want] of table) {
    it(name, () => {
      const got = issues(`{ url: "mqtt://127.0.0.1:1883", enrollmentToken: "${token}" }`)
      if (want === null) {
        assert.deepEqual(got, [])
        assert.equal(
          parse(`{ url: "mqtt://127.0.0.1:1883", enrollmentToken: "${token}" }`).collector.enrollmentToken,
          token,
        )
      } else {
        assert.ok(
          got.some((g) => g.startsWith('1:collector.enrollmentToken: ') && want.test(g)),
          `expected ${want}; got:\n${got.join('\n')}`,
        )
      }
    })
  }
})
