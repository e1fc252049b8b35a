import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { ConfigError, formatIssue } from '@backstop/shared'
import { loadAgentConfig, parseAgentConfig } from '../../src/config/load.ts'
import { buildJobs } from '../../src/jobs/build-jobs.ts'

/**
 * zrepl's config_test.go: every shipped sample parses (and builds its jobs), every invalid fixture fails with the
 * field and line its header promises. A sample that rots or an error that stops pointing at the right line
 * fails here first.
 */
const root = fileURLToPath(new URL('../../../', import.meta.url))
const deployDir = join(root, 'deploy', 'config')
const invalidDir = fileURLToPath(new URL('../fixtures/config/invalid/', import.meta.url))

describe('deploy/config/agent*.yaml samples', () => {
  const samples = readdirSync(deployDir).filter((f) => /^agent.*\.ya?ml$/.test(f))
  it('there are samples to check', () => {
    assert.ok(samples.includes('agent.example.yaml'), `found: ${samples.join(', ')}`)
  })
  // A sample's inline token is a placeholder the operator must replace (refused verbatim, below); filled in, the
  // rest of the sample must be valid.
  const filled = (text: string): string =>
    text.replace(/^(\s*enrollmentToken:) change-me$/m, '$1 bk_0a1b2c3d_Qm9ZpR3vT8wXyL2nK5sJ7dF1gH4jA6cE0bN9uV2iO3q')
  for (const f of samples) {
    it(`${f} parses and builds its jobs (token filled in)`, () => {
      const cfg = parseAgentConfig(filled(readFileSync(join(deployDir, f), 'utf8')), f, { hostname: 'sample-host' })
      const jobs = buildJobs(cfg.jobs)
      assert.equal(jobs.length, cfg.jobs.length)
      assert.deepEqual(cfg.warnings, [], 'a shipped sample uses no outdated keys')
      assert.ok(cfg.jobs.length > 0, 'a sample without jobs documents nothing')
    })
  }

  it('agent.minimal.yaml verbatim fails configcheck at its placeholder token, saying what to put there', () => {
    const file = join(deployDir, 'agent.minimal.yaml')
    assert.throws(
      () => loadAgentConfig(file, { hostname: 'sample-host' }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.issues.some(
          (i) =>
            i.field === 'collector.enrollmentToken' &&
            i.line === 5 &&
            /placeholder/.test(i.message) &&
            /backstop-collector token create/.test(i.message),
        ),
    )
  })

  it('agent.example.yaml uses every top-level field and every archive field', () => {
    const text = readFileSync(join(deployDir, 'agent.example.yaml'), 'utf8')
    for (const field of [
      'node',
      'stateDir',
      'timezone',
      'collector',
      'url',
      'enrollmentTokenFile',
      'outbox',
      'maxBytes',
      'heartbeatSeconds',
      'log',
      'level',
      'jobs',
      'kind',
      'name',
      'schedule',
      'catchUp',
      'timeoutSeconds',
      'paths',
      'destination',
      'exclude',
      'retention',
      'media',
      'offsite',
      'offline',
    ]) {
      assert.match(text, new RegExp(`^\\s*(- )?${field}:`, 'm'), `field ${field} is not shown`)
    }
    assert.match(text, /enrollmentToken\b/, 'the inline token alternative is documented')
  })
})

interface Expectation {
  line: number
  field: string
  message: string[]
}

function expectation(text: string, file: string): Expectation {
  const get = (k: string): string => {
    const m = new RegExp(`^# expect-${k}: (.+)$`, 'm').exec(text)
    assert.ok(m?.[1], `${file} lacks its "# expect-${k}:" header`)
    return m[1].trim()
  }
  return { line: Number(get('line')), field: get('field'), message: get('message').split('|') }
}

describe('agent/test/fixtures/config/invalid: each fails with the promised field and line', () => {
  const files = readdirSync(invalidDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
  it('has at least 8 cases', () => {
    assert.ok(files.length >= 8, `only ${files.length}`)
  })
  for (const f of files) {
    it(f, () => {
      const text = readFileSync(join(invalidDir, f), 'utf8')
      const want = expectation(text, f)
      let err: unknown
      try {
        parseAgentConfig(text, f, { hostname: 'test-host' })
      } catch (e) {
        err = e
      }
      assert.ok(err instanceof ConfigError, `${f} was accepted (or failed without a ConfigError: ${String(err)})`)
      const printed = err.issues.map(formatIssue)
      const hit = err.issues.find(
        (i) =>
          i.line === want.line &&
          (i.field || '(root)') === want.field &&
          want.message.some((m) => i.message.includes(m)),
      )
      assert.ok(
        hit,
        `expected ${f}:${want.line}: ${want.field}: …${want.message.join(' or ')}…; got:\n${printed.join('\n')}`,
      )
      assert.ok(
        printed.every((p) => p.startsWith(`${f}:`)),
        'every issue names the file',
      )
    })
  }
})
