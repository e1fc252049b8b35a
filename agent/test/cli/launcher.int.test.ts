import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'

/** The real entry point (main.ts through the dev launcher) in a child process: argv, exit codes, stdout/stderr. */
const root = fileURLToPath(new URL('../../../', import.meta.url))
const launcher = fileURLToPath(new URL('../../bin/backstop-agent.mjs', import.meta.url))

function agent(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [launcher, ...args], { cwd: root, encoding: 'utf8', timeout: 30_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

describe('bin/backstop-agent.mjs', () => {
  it('--version prints the package version', () => {
    const r = agent('--version')
    assert.equal(r.code, 0, r.err)
    assert.match(r.out, /^backstop-agent \d+\.\d+\.\d+\n$/)
  })

  it('configcheck on the shipped example exits 0 with a summary', () => {
    const r = agent('configcheck', '--config', 'deploy/config/agent.example.yaml')
    assert.equal(r.code, 0, r.err)
    assert.match(r.out, /agent\.example\.yaml: OK/)
  })

  it('configcheck on an invalid file exits 1 with file:line:col: field: message on stderr', () => {
    const r = agent('configcheck', '--config', 'agent/test/fixtures/config/invalid/duplicate-job-name.yaml')
    assert.equal(r.code, 1)
    assert.equal(r.out, '')
    assert.match(
      r.err,
      new RegExp(
        String.raw`^agent\/test\/fixtures\/config\/invalid\/duplicate-job-name\.yaml:14:11: ` +
          String.raw`jobs\[1\]\.name: duplicate job name "etc"`,
        'm',
      ),
    )
  })
})
