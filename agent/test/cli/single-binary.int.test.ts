import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'

/**
 * Builds the single executable (esbuild → SEA blob → postject into a copy of node) into a temp dir and runs it as
 * an operator would: configcheck on good and bad files, and one archive run through the real runtime and durable
 * outbox with no collector reachable (the events must stay queued, exit 3).
 */
const root = fileURLToPath(new URL('../../../', import.meta.url))

describe('single binary (agent/scripts/build-sea.mjs)', () => {
  it('builds, and the binary runs configcheck and a real archive job', { timeout: 180_000 }, (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-sea-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const built = spawnSync(process.execPath, ['agent/scripts/build-sea.mjs', '--out', join(dir, 'dist')], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, BACKSTOP_BUILD_COMMIT: 'sea-test-commit-42' },
    })
    assert.equal(built.status, 0, `${built.stdout}\n${built.stderr}`)
    const bin = join(dir, 'dist', 'backstop-agent')
    const agent = (...args: string[]) => spawnSync(bin, args, { cwd: root, encoding: 'utf8', timeout: 30_000 })

    const version = agent('--version')
    assert.equal(version.status, 0, version.stderr)
    assert.match(version.stdout, /^backstop-agent \d+\.\d+\.\d+ \(commit sea-test-commit-42\)\n$/)

    const ok = agent('configcheck', '--config', 'deploy/config/agent.example.yaml')
    assert.equal(ok.status, 0, ok.stderr)
    assert.match(ok.stdout, /agent\.example\.yaml: OK/)
    const bad = agent('configcheck', '--config', 'agent/test/fixtures/config/invalid/unknown-kind.yaml')
    assert.equal(bad.status, 1)
    assert.match(bad.stderr, /unknown-kind\.yaml:7:11: jobs\[0\]\.kind: unknown job kind "rsync"/)

    mkdirSync(join(dir, 'src'))
    writeFileSync(join(dir, 'src', 'hosts'), '127.0.0.1 localhost\n')
    const config = join(dir, 'agent.yaml')
    writeFileSync(
      config,
      `node: sea-test
stateDir: ${join(dir, 'state')}
collector: { url: "mqtt://127.0.0.1:1", enrollmentToken: sea-test-enrollment-token-0123456789 }
jobs:
  - { kind: archive, name: etc, paths: ["${join(dir, 'src')}"], destination: "${join(dir, 'out')}", media: hdd }
`,
    )
    const once = agent('once', 'etc', '--config', config, '--ack-timeout', '0')
    assert.equal(once.status, 3, `${once.stdout}\n${once.stderr}`)
    assert.match(once.stdout, /^etc: success — 1 copy/)
    assert.doesNotMatch(once.stderr, /single-executable applications only supports loading built-in modules/)
    assert.equal(readdirSync(join(dir, 'out')).filter((n) => n.endsWith('.tar.gz')).length, 1)
    const status = agent('status', '--json', '--config', config)
    assert.equal(status.status, 0, status.stderr)
    const s = JSON.parse(status.stdout)
    assert.ok(s.outbox.pending >= 2, 'job.started and job.finished (and progress) wait in the outbox')
    assert.equal(s.jobs[0].lastRun.status, 'success')
    assert.ok(existsSync(join(dir, 'state', 'keys')))
  })
})
