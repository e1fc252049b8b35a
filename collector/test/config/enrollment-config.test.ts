import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { ConfigError } from '@backstop/shared'
import { parseCollectorConfig } from '../../src/config/load.ts'

const example = readFileSync(
  fileURLToPath(new URL('../../../deploy/config/collector.example.yaml', import.meta.url)),
  'utf8',
)

/** The example's commented-out `enrollment:` block, uncommented: what an operator gets by removing the `# `. */
function exampleWithEnrollment(): string {
  const lines = example.split('\n')
  const start = lines.indexOf('# enrollment:')
  assert.ok(start > 0, 'the example documents an enrollment: section')
  let end = start
  while (lines[end + 1]?.startsWith('#   ')) {
    end++
  }
  return lines.map((l, i) => (i >= start && i <= end ? l.slice(2) : l)).join('\n')
}

function issuesOf(text: string): string[] {
  try {
    parseCollectorConfig(text, 'c.yaml')
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e))
    return e.issues.map((i) => `${i.line}:${i.field}: ${i.message}`)
  }
  assert.fail('the config was accepted')
}

describe('collector config: enrollment tokens', () => {
  it("the example's placeholder token, uncommented, fails configcheck at its line saying what to put there", () => {
    const text = exampleWithEnrollment()
    const line = text.split('\n').findIndex((l) => l.includes('- token: replace-with-a-long-random-token')) + 1
    const got = issuesOf(text)
    assert.ok(
      got.some(
        (g) =>
          g.startsWith(`${line}:enrollment.tokens[0].token: "replace-with-a-long-random-token" is a placeholder`) &&
          g.includes('openssl rand -base64 24') &&
          g.includes('backstop-collector token create'),
      ),
      got.join('\n'),
    )
  })

  it('the example block with a real token resolves its expiry (a date is midnight UTC)', () => {
    const text = exampleWithEnrollment().replace('replace-with-a-long-random-token', 'k9Qv2LrB7tNw0ZpY4sD1fHx3')
    const cfg = parseCollectorConfig(text, 'c.yaml')
    assert.deepEqual(cfg.enrollment.tokens, [
      { token: 'k9Qv2LrB7tNw0ZpY4sD1fHx3', expiresAt: Date.parse('2026-12-31T00:00:00Z') },
    ])
    assert.deepEqual(cfg.warnings, [])
  })

  it('no enrollment section: no static tokens, no warning (one-time tokens are the default path)', () => {
    const cfg = parseCollectorConfig('log: {level: info}\n', 'c.yaml')
    assert.deepEqual(cfg.enrollment, { tokens: [] })
    assert.deepEqual(cfg.warnings, [])
  })

  it('a bare token (the older format) keeps working, never expiring, with a warning at its line', () => {
    const cfg = parseCollectorConfig('enrollment:\n  tokens:\n    - k9Qv2LrB7tNw0ZpY4sD1fHx3\n', 'c.yaml')
    assert.deepEqual(cfg.enrollment.tokens, [{ token: 'k9Qv2LrB7tNw0ZpY4sD1fHx3', expiresAt: null }])
    assert.equal(cfg.warnings.length, 1)
    assert.match(
      cfg.warnings[0]!,
      /^c\.yaml:3:7: enrollment\.tokens\[0\]: a bare token never expires .*expiresAt.*backstop-collector token create/,
    )
  })

  const table: [string, string, RegExp][] = [
    ['a bare placeholder', '[replace-with-a-long-random-token]', /1:enrollment\.tokens\[0\]: .*placeholder/],
    ['a short token', '[Zq8vR2k]', /1:enrollment\.tokens\[0\]: the token has 7 characters; at least 16/],
    ['a token without variety', '[aaaaaaaaaaaaaaaaaaaa]', /distinct characters/],
    ['a duplicate', '[k9Qv2LrB7tNw0ZpY4sD1fHx3, k9Qv2LrB7tNw0ZpY4sD1fHx3]', /enrollment\.tokens\[1\]: .*twice/],
    [
      'an expiry that is no date',
      '[{token: k9Qv2LrB7tNw0ZpY4sD1fHx3, expiresAt: next year}]',
      /enrollment\.tokens\[0\]\.expiresAt: "next year" is no date; .*2026-12-31/,
    ],
    [
      'a time without a zone',
      '[{token: k9Qv2LrB7tNw0ZpY4sD1fHx3, expiresAt: "2026-12-31T18:00"}]',
      /expiresAt: .*needs Z or an offset/,
    ],
    ['an object without expiry', '[{token: k9Qv2LrB7tNw0ZpY4sD1fHx3}]', /enrollment\.tokens\[0\]/],
  ]
  for (const [name, tokens, want] of table) {
    it(`refused: ${name}`, () => {
      const got = issuesOf(`enrollment: {tokens: ${tokens}}\n`)
      assert.ok(
        got.some((g) => want.test(g)),
        `expected ${want}; got:\n${got.join('\n')}`,
      )
    })
  }

  it('an expiry with an offset is kept as that instant', () => {
    const cfg = parseCollectorConfig(
      'enrollment: {tokens: [{token: k9Qv2LrB7tNw0ZpY4sD1fHx3, expiresAt: "2026-06-01T12:00:00+02:00"}]}\n',
      'c.yaml',
    )
    assert.equal(cfg.enrollment.tokens[0]?.expiresAt, Date.parse('2026-06-01T10:00:00Z'))
  })
})
