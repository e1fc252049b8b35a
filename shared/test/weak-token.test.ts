import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { weakTokenReason } from '../src/config/weak-token.ts'

describe('weakTokenReason', () => {
  const table: [string, RegExp | null][] = [
    ['replace-with-a-long-random-token', /placeholder/],
    ['change-me', /placeholder/],
    ['CHANGEME-0123456789abcdef', /placeholder/],
    ['your-enrollment-token', /placeholder/],
    ['<token from the collector>', /placeholder/],
    ['3f9c…', /placeholder/],
    ['put-the-token-here-please', /placeholder/],
    ['xxxxxxxxxxxxxxxxxxxxxxxx', /placeholder/],
    ['Zq8vR2k', /7 characters; at least 16/],
    ['abababababababababab', /2 distinct characters/],
    ['k9Qv2LrB7tNw0ZpY4sD1fHx3', null],
    ['integration-enrollment-token-0123456789', null],
    ['bk_0a1b2c3d_Qm9ZpR3vT8wXyL2nK5sJ7dF1gH4jA6cE0bN9uV2iO3q', null],
  ]
  for (const [token, want] of table) {
    it(token, () => {
      const got = weakTokenReason(token)
      if (want === null) {
        assert.equal(got, null)
      } else {
        assert.match(got ?? 'accepted', want)
      }
    })
  }

  it('never flags a token made the documented way (openssl rand -base64 24) or by token create', () => {
    for (let i = 0; i < 5000; i++) {
      const b64 = randomBytes(24).toString('base64')
      assert.equal(weakTokenReason(b64), null, b64)
      const oneTime = `bk_${randomBytes(4).toString('hex')}_${randomBytes(32).toString('base64url')}`
      assert.equal(weakTokenReason(oneTime), null, oneTime)
    }
  })
})
