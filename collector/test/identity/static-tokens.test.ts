import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BackstopError, keyPairFromSeed } from '@backstop/shared'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import { createEnrollmentGate } from '../../src/identity/enrollment-gate.ts'
import { createTokensRepo } from '../../src/identity/enrollment-tokens.ts'
import { createAccessRepo } from '../../src/identity/node-access.ts'
import { createStaticTokenCheck, tokenSecrets } from '../../src/identity/static-tokens.ts'
import { openDb } from '../../src/store/db.ts'

const EXPIRES = Date.parse('2026-12-31T00:00:00Z')
const enrollment = {
  tokens: [
    { token: 'k9Qv2LrB7tNw0ZpY4sD1fHx3', expiresAt: EXPIRES },
    { token: 'legacy-bare-token-0123456789', expiresAt: null },
  ],
}

describe('static enrollment tokens', () => {
  it('a configured token is admitted until its expiresAt, refused from then on with a coded error', () => {
    let now = EXPIRES - 1
    const check = createStaticTokenCheck(enrollment, { now: () => now })
    assert.equal(check('k9Qv2LrB7tNw0ZpY4sD1fHx3'), true)
    now = EXPIRES
    assert.throws(
      () => check('k9Qv2LrB7tNw0ZpY4sD1fHx3'),
      (e: unknown) => {
        const err = e as { code?: string; message: string }
        assert.equal(err.code, 'BK_ERR_ENROLL_TOKEN')
        assert.match(err.message, /enrollment\.tokens\[0\] expired at 2026-12-31T00:00:00\.000Z/)
        assert.match(err.message, /backstop-collector token create/)
        return true
      },
    )
  })

  it('a bare (older format) token never expires; an unknown token is no match, not an error', () => {
    const check = createStaticTokenCheck(enrollment, { now: () => Date.parse('2099-01-01T00:00:00Z') })
    assert.equal(check('legacy-bare-token-0123456789'), true)
    assert.equal(check('k9Qv2LrB7tNw0ZpY4sD1fHx'), false, 'a prefix is no match')
    assert.equal(check(''), false)
  })

  it('no static tokens: nothing matches', () => {
    assert.equal(createStaticTokenCheck({ tokens: [] }, { now: () => 0 })('k9Qv2LrB7tNw0ZpY4sD1fHx3'), false)
  })

  it('tokenSecrets lists every secret, expired ones too (the ingest only checks the shape; the gate decides)', () => {
    assert.deepEqual(tokenSecrets(enrollment), ['k9Qv2LrB7tNw0ZpY4sD1fHx3', 'legacy-bare-token-0123456789'])
  })

  it('through the enrollment gate: admitted before expiresAt, refused with BK_ERR_ENROLL_TOKEN after', (t) => {
    const { db } = openDb({ file: ':memory:' })
    t.after(() => db.close())
    let now = EXPIRES - 60_000
    const gate = createEnrollmentGate({
      db,
      tokens: createTokensRepo(db),
      access: createAccessRepo(db),
      audit: createAuditLog(db),
      staticTokens: createStaticTokenCheck(enrollment, { now: () => now }),
    })
    const publicKey = (seed: number): string => keyPairFromSeed(new Uint8Array(32).fill(seed)).publicKey
    const admit = (node: string, seed: number): string => {
      try {
        return gate.admit({
          node,
          publicKey: publicKey(seed),
          token: 'k9Qv2LrB7tNw0ZpY4sD1fHx3',
          hostname: node,
          now: new Date(now),
        })
      } catch (e) {
        assert.ok(e instanceof BackstopError, String(e))
        return `${e.code}: ${e.message}`
      }
    }
    assert.equal(admit('pve1', 21), 'new')
    now = EXPIRES + 1
    assert.match(admit('pve2', 22), /^BK_ERR_ENROLL_TOKEN: .*enrollment\.tokens\[0\] expired at 2026-12-31/)
  })
})
