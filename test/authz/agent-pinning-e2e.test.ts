import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { agentBin, agentConfig, collectorSetup, eventually, startProc, tempDir } from '../support/processes.ts'

/**
 * The real binaries: `backstop-agent run` with mqtts:// and collector.fingerprint against `backstop-collector run` with
 * TLS on.
 */
describe('agent binary pins the collector over mqtts', { timeout: 3 * 60_000 }, () => {
  it('enrolls with the right fingerprint; an impostor pin is BK_ERR_TLS_FINGERPRINT and sends nothing', async (t) => {
    const dir = tempDir(t, 'bk-pin-')
    const c = await collectorSetup(dir, { tls: { plaintext: false, names: ['127.0.0.1', 'localhost'] } })
    const collector = await c.start()
    t.after(() => collector.kill9())
    const url = c.mqttUrl.replace('mqtt://', 'mqtts://')
    const fingerprint = new X509Certificate(readFileSync(join(dir, 'collector-data', 'tls', 'ca.pem'))).fingerprint256
    const good = startProc(
      [
        agentBin,
        'run',
        '--config',
        agentConfig(dir, url, {
          node: 'pinned-ok',
          extra: { collector: { url, enrollmentToken: 'integration-enrollment-token-0123456789', fingerprint } },
        }),
      ],
      join(dir, 'good.log'),
    )
    const wrong = 'AB:'.repeat(31) + 'AB'
    const bad = startProc(
      [
        agentBin,
        'run',
        '--config',
        agentConfig(dir, url, {
          node: 'pinned-bad',
          extra: { collector: { url, enrollmentToken: 'integration-enrollment-token-0123456789', fingerprint: wrong } },
        }),
      ],
      join(dir, 'bad.log'),
    )
    t.after(async () => {
      await good.kill9()
      await bad.kill9()
    })
    const enrolled = (node: string): boolean => {
      const db = new Database(c.dbFile, { readonly: true, fileMustExist: true })
      try {
        return db.prepare('SELECT 1 FROM nodes WHERE node = ?').get(node) !== undefined
      } finally {
        db.close()
      }
    }
    await eventually(() => (enrolled('pinned-ok') ? true : undefined), 'pinned agent enrolled', 60_000)
    await bad.waitFor(/BK_ERR_TLS_FINGERPRINT/, 60_000)
    assert.equal(enrolled('pinned-bad'), false)
    assert.doesNotMatch(collector.output(), /pinned-bad/, 'the impostor-pinned agent never reached MQTT')
  })
})
