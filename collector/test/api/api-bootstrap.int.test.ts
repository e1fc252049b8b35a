import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { isBackstopError } from '@backstop/shared'
import { parseCollectorConfig } from '../../src/config/load.ts'
import { OFF_ON_NETWORK } from '../../src/config/schema.ts'
import { startCollector } from '../../src/main.ts'
import { captureLog, tempDir, TOKEN } from '../support/harness.ts'

const yaml = (dir: string, api: string): string =>
  `dataDir: ${dir}\nmqtt: {host: 127.0.0.1, port: 0}\napi: {${api}}\nenrollment: {tokens: [${TOKEN}]}\n` +
  'ingest: {verifyWorkers: 0}\ntls: {plaintext: true}\n'

/** A collector on a fresh data directory with this `api:` config, and a row counter over its database. */
async function freshCollector(t: TestContext, api: string) {
  const c = await startCollector(parseCollectorConfig(yaml(tempDir(t, 'bk-bootstrap-'), api), 'fresh.yaml'), {
    log: captureLog('warn').log,
  })
  t.after(() => c.stop())
  const count = (table: string): number => (c.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n
  return { c, count }
}

/** docs/security.md "API bootstrap": no anonymous write, ever; the first token comes from the CLI. */
describe('API bootstrap on a fresh collector', () => {
  it('anonymous POST /api/v1/tokens and POST /api/v1/nodes/:node/commands are 401 and change nothing', async (t) => {
    const { c, count } = await freshCollector(t, 'host: 127.0.0.1, port: 0')
    assert.equal(count('api_tokens'), 0, 'a fresh collector has no token')

    const post = (path: string, body: unknown): Promise<Response> =>
      fetch(`${c.apiUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    const mint = await post('/api/v1/tokens', { name: 'attacker', role: 'admin' })
    assert.equal(mint.status, 401)
    const err = ((await mint.json()) as { error: { code: string; message: string } }).error
    assert.equal(err.code, 'BK_ERR_API_UNAUTHORIZED')
    assert.match(err.message, /backstop-collector apitoken create --name admin --role admin/, 'says how to bootstrap')
    const run = await post('/api/v1/nodes/pve1/commands', { kind: 'run-job', job: 'daily' })
    assert.equal(run.status, 401)
    assert.equal(count('api_tokens'), 0, 'no token was created')
    assert.equal(count('commands'), 0, 'no command was stored or published')
    assert.equal((await fetch(`${c.apiUrl}/healthz`)).status, 200, 'liveness stays open')
  })

  it('auth off opens reads; minting tokens, notification channels and node commands still need a token', async (t) => {
    const { c, count } = await freshCollector(t, 'host: 127.0.0.1, port: 0, auth: off')
    const send = (method: string, path: string, body?: unknown): Promise<Response> =>
      fetch(`${c.apiUrl}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
    assert.equal((await send('GET', '/api/v1/nodes')).status, 200, 'reads are open')
    // A token minted anonymously would stay valid after auth is switched back on (the attack of docs/security.md 1a).
    assert.equal((await send('POST', '/api/v1/tokens', { name: 'attacker', role: 'admin' })).status, 401)
    assert.equal((await send('GET', '/api/v1/tokens')).status, 401)
    const channel = { kind: 'ntfy', url: 'https://ntfy.example/backstop', credentials: { token: 'tk_secret' } }
    assert.equal((await send('POST', '/api/v1/channels', channel)).status, 401, 'channels hold notifier secrets')
    const run = await send('POST', '/api/v1/nodes/pve1/commands', { kind: 'run-job', job: 'daily' })
    assert.equal(run.status, 401)
    assert.equal(count('api_tokens'), 0)
    assert.equal(count('commands'), 0)
    assert.equal(count('notify_channels'), 0)
  })

  it('refuses to start with auth off on a non-loopback api.host, naming the way out', async (t) => {
    const dir = tempDir(t, 'bk-bootstrap-')
    // configcheck (the YAML) refuses it at the api.auth line …
    assert.throws(
      () => parseCollectorConfig(yaml(dir, 'host: 0.0.0.0, port: 0, auth: off'), 'open.yaml'),
      (e: Error) => {
        assert.ok(isBackstopError(e) && e.code === 'BK_ERR_CONFIG_INVALID', String(e))
        assert.match(e.message, /open\.yaml:3:\d+: api\.auth: api\.auth is off but api\.host 0\.0\.0\.0/)
        assert.match(e.message, new RegExp(OFF_ON_NETWORK))
        return true
      },
    )
    // … and so does startCollector for a config built in code, before it opens a port or the database.
    const ok = parseCollectorConfig(yaml(dir, 'host: 127.0.0.1, port: 0, auth: off'), 'lab.yaml')
    await assert.rejects(
      startCollector({ ...ok, api: { ...ok.api, host: '0.0.0.0' } }, { log: captureLog('warn').log }),
      /api\.auth is off but api\.host 0\.0\.0\.0 is reachable from other machines/,
    )
  })

  it('auth off on loopback starts with a warning in the log; "auto" is refused with the bootstrap hint', async (t) => {
    const dir = tempDir(t, 'bk-bootstrap-')
    const log = captureLog('warn')
    const c = await startCollector(parseCollectorConfig(yaml(dir, 'host: 127.0.0.1, port: 0, auth: off'), 'l.yaml'), {
      log: log.log,
    })
    t.after(() => c.stop())
    assert.ok(
      log.lines.some((l) => l['level'] === 40 && /API authentication is off/.test(String(l['msg']))),
      JSON.stringify(log.lines),
    )
    assert.throws(
      () => parseCollectorConfig(yaml(dir, 'host: 127.0.0.1, auth: auto'), 'old.yaml'),
      /api\.auth: must be required \(the default\).*"auto" was removed.*apitoken create/s,
    )
  })
})
