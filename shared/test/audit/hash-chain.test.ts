import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { AUDIT_GENESIS, type AuditEntry, nextAuditEntry, verifyAuditChain } from '@backstop/shared'

const t0 = new Date('2026-11-22T02:00:00.000Z')

function chain(n: number): AuditEntry[] {
  const out: AuditEntry[] = []
  for (let i = 0; i < n; i++) {
    out.push(
      nextAuditEntry(
        out.at(-1),
        { actor: 'cli:root', action: i % 2 ? 'node.revoke' : 'token.create', target: `t${i}`, detail: { i } },
        new Date(t0.getTime() + i * 1000),
      ),
    )
  }
  return out
}

describe('audit hash chain', () => {
  it('links entries from the genesis hash and verifies', () => {
    const c = chain(5)
    assert.equal(c[0]!.prevHash, AUDIT_GENESIS)
    assert.equal(c[1]!.prevHash, c[0]!.hash)
    assert.deepEqual(verifyAuditChain(c), { ok: true, count: 5, head: c[4]!.hash })
    assert.deepEqual(verifyAuditChain([]), { ok: true, count: 0, head: AUDIT_GENESIS })
  })

  const tamperings: Array<[string, (c: AuditEntry[]) => AuditEntry[], string, number]> = [
    ['edited detail', (c) => c.map((e) => (e.seq === 3 ? { ...e, detail: { i: 99 } } : e)), 'hash-mismatch', 3],
    [
      'edited actor with rehash of that entry only',
      (c) => {
        const forged = nextAuditEntry(
          c[1],
          { actor: 'cli:mallory', action: c[2]!.action, target: c[2]!.target, detail: c[2]!.detail },
          new Date(c[2]!.ts),
        )
        return c.map((e) => (e.seq === 3 ? forged : e))
      },
      'broken-link',
      4,
    ],
    ['deleted middle entry', (c) => c.filter((e) => e.seq !== 2), 'seq-gap', 3],
    [
      'deleted and renumbered',
      (c) => c.filter((e) => e.seq !== 2).map((e, i) => ({ ...e, seq: i + 1 })),
      'broken-link',
      2,
    ],
    ['swapped two entries', (c) => [c[0]!, c[2]!, c[1]!, c[3]!, c[4]!], 'seq-gap', 3],
    [
      'swapped and renumbered',
      (c) => [c[0]!, { ...c[2]!, seq: 2 }, { ...c[1]!, seq: 3 }, c[3]!, c[4]!],
      'broken-link',
      2,
    ],
  ]
  for (const [name, tamper, problem, atSeq] of tamperings) {
    it(`detects: ${name}`, () => {
      const v = verifyAuditChain(tamper(chain(5)))
      assert.equal(v.ok, false)
      assert.ok(!v.ok && v.problem === problem && v.atSeq === atSeq, JSON.stringify(v))
    })
  }

  it('detects a cut-off tail only against a recorded head', () => {
    const c = chain(5)
    const head = { seq: 5, hash: c[4]!.hash }
    assert.equal(verifyAuditChain(c.slice(0, 3)).ok, true)
    const v = verifyAuditChain(c.slice(0, 3), head)
    assert.ok(!v.ok && v.problem === 'head-mismatch', JSON.stringify(v))
    assert.equal(verifyAuditChain(c, head).ok, true)
    const rewritten = chain(5).map((e) => e)
    assert.equal(verifyAuditChain(rewritten, { seq: 5, hash: 'f'.repeat(64) }).ok, false)
  })

  it('property: any single-field edit anywhere is detected', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 7 }),
        fc.constantFrom('actor', 'action', 'target', 'ts'),
        fc.string({ minLength: 1, maxLength: 8 }),
        (idx, field, junk) => {
          const c = chain(8)
          const orig = c[idx]!
          const edited = {
            ...orig,
            [field]: `${(orig as unknown as Record<string, string>)[field]}${junk}`,
          } as AuditEntry
          c[idx] = edited
          assert.equal(verifyAuditChain(c).ok, false)
        },
      ),
      { numRuns: 200 },
    )
  })
})
