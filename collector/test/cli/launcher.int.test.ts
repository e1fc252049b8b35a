import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import { TOKEN, tempDir } from '../support/harness.ts'

const bin = fileURLToPath(new URL('../../bin/backstop-collector.mjs', import.meta.url))

function run(
  args: string[],
  onLine?: (line: string, kill: () => void) => void,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      for (const line of d.toString().split('\n')) {
        onLine?.(line, () => child.kill('SIGTERM'))
      }
    })
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString()
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, out, err })
    })
  })
}

test('backstop-collector run prints the API and MQTT URLs, serves /healthz, and exits 0 on SIGTERM', async (t) => {
  const dir = tempDir(t)
  const cfg = join(dir, 'collector.yaml')
  writeFileSync(
    cfg,
    `dataDir: ${dir}/data\nmqtt: {host: 127.0.0.1, port: 0}\napi: {host: 127.0.0.1, port: 0}\n` +
      `enrollment: {tokens: [${TOKEN}]}\ningest: {verifyWorkers: 0}\nlog: {level: warn}\ntls: {plaintext: true}\n`,
  )
  let health: unknown
  const res = await run(['run', '--config', cfg], (line, kill) => {
    const m = /API (http:\/\/\S+)\s+MQTT (mqtt:\/\/\S+)/.exec(line)
    if (m) {
      fetch(`${m[1]}/healthz`)
        .then((r) => r.json())
        .then((h) => {
          health = h
        })
        .finally(kill)
    }
  })
  assert.equal(res.code, 0, res.err)
  assert.deepEqual(health, { ok: true, db: true, broker: true })
  assert.ok(existsSync(join(dir, 'data', 'collector.db')))
  assert.ok(existsSync(join(dir, 'data', 'keys', 'collector.json')))
})

test('configcheck: OK for a valid file, exit 1 naming file:line:field for an invalid one', async (t) => {
  const dir = tempDir(t)
  const good = join(dir, 'good.yaml')
  const bad = join(dir, 'bad.yaml')
  writeFileSync(good, `enrollment: {tokens: [${TOKEN}]}\n`)
  writeFileSync(bad, 'enrollment:\n  tokens: [short]\n')
  const ok = await run(['configcheck', '--config', good])
  assert.equal(ok.code, 0, ok.err)
  assert.match(ok.out, /good\.yaml: OK/)
  assert.ok(!ok.out.includes(TOKEN), 'tokens are redacted')
  const ko = await run(['configcheck', '--config', bad])
  assert.equal(ko.code, 1)
  assert.match(ko.err, /BK_ERR_CONFIG_INVALID[\s\S]*bad\.yaml:2:\d+: enrollment\.tokens\[0\]/)
})
