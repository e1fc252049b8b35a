import assert from 'node:assert/strict'
import { readFileSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type AddressInfo } from 'node:net'
import { connect, createServer, type PeerCertificate, type Server } from 'node:tls'
import { isBackstopError } from '@backstop/shared'
import { fetchPinnedCa, normalizeFingerprint, pinnedTlsOptions } from '../../src/transport/tls-pinning.ts'
import { pinnedTlsForUrl, trustStorePath } from '../../src/transport/tls-trust-store.ts'

const fx = (f: string): string => readFileSync(new URL(`../fixtures/tls/${f}`, import.meta.url), 'utf8')
const goodCa = fx('good-ca.pem')
const goodPin = '7E:6C:7D:CA:00:16:85:A1:FD:2D:CF:F7:1C:2B:ED:1D:9B:8E:98:9D:3C:41:78:CC:0F:07:41:B9:2A:88:8A:3D'

async function serve(who: 'good' | 'evil'): Promise<{ server: Server; port: number }> {
  const server = createServer(
    { cert: fx(`${who}-server.pem`) + fx(`${who}-ca.pem`), key: fx(`${who}-server.key`) },
    (s) => s.end('hello'),
  )
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { server, port: (server.address() as AddressInfo).port }
}

function handshake(port: number, host: string, opts: ReturnType<typeof pinnedTlsOptions>): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, servername: host === '127.0.0.1' ? undefined : host, ...opts }, () => {
      s.once('data', (d) => {
        s.destroy()
        resolve(d.toString())
      })
    })
    s.once('error', reject)
  })
}

describe('TLS fingerprint pinning (agent side)', () => {
  let good: { server: Server; port: number }
  let evil: { server: Server; port: number }
  const dir = mkdtempSync(join(tmpdir(), 'bk-tls-'))
  before(async () => {
    good = await serve('good')
    evil = await serve('evil')
  })
  after(() => {
    good.server.close()
    evil.server.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const forms: Array<[string, string]> = [
    ['colon upper', goodPin],
    ['bare lower hex', goodPin.replace(/:/g, '').toLowerCase()],
    ['curl sha256// prefix', `sha256//${goodPin}`],
  ]
  for (const [name, input] of forms) {
    it(`normalizes ${name}`, () => assert.equal(normalizeFingerprint(input), goodPin))
  }
  it('refuses a malformed fingerprint with a config error', () => {
    assert.throws(
      () => normalizeFingerprint('AB:CD'),
      (e) => isBackstopError(e, 'BK_ERR_CONFIG_INVALID'),
    )
  })

  it('fetches the CA when the chain contains the pinned certificate, then connects verified', async () => {
    const ca = await fetchPinnedCa({ host: '127.0.0.1', port: good.port, pin: goodPin })
    assert.equal(ca.trim(), goodCa.trim())
    assert.equal(await handshake(good.port, '127.0.0.1', pinnedTlsOptions(ca, goodPin)), 'hello')
    assert.equal(await handshake(good.port, 'localhost', pinnedTlsOptions(ca, goodPin)), 'hello')
  })

  it('refuses an impostor with the same names at the probe, naming both fingerprints', async () => {
    await assert.rejects(fetchPinnedCa({ host: '127.0.0.1', port: evil.port, pin: goodPin }), (e) => {
      assert.ok(isBackstopError(e, 'BK_ERR_TLS_FINGERPRINT'))
      assert.match(e.message, /none matches the pinned 7E:6C/)
      assert.match(e.message, /update collector\.fingerprint/)
      return true
    })
  })

  it('refuses an impostor on later connections (chain does not verify against the pinned CA)', async () => {
    await assert.rejects(
      handshake(evil.port, '127.0.0.1', pinnedTlsOptions(goodCa, goodPin)),
      /self.signed|unable to verify|certificate/i,
    )
  })

  it('refuses the genuine chain when the pin is different (e.g. collector reinstalled)', async () => {
    const otherPin = normalizeFingerprint('ab'.repeat(32))
    await assert.rejects(handshake(good.port, '127.0.0.1', pinnedTlsOptions(goodCa, otherPin)), (e) =>
      isBackstopError(e, 'BK_ERR_TLS_FINGERPRINT'),
    )
  })

  it('refuses a pinned certificate used under a name it does not carry', async () => {
    const opts = pinnedTlsOptions(goodCa, goodPin)
    const err = opts.checkServerIdentity!('collector.example', { ...(await peerOf(good.port)) })
    assert.ok(isBackstopError(err, 'BK_ERR_TLS_FINGERPRINT'))
    assert.match(err.message, /tls\.names/)
  })

  it('stores the fetched CA (0600) and reuses it; a changed pin re-fetches and fails against an impostor', async () => {
    const url = `mqtts://127.0.0.1:${good.port}`
    const opts = await pinnedTlsForUrl({ stateDir: dir, url, fingerprint: goodPin })
    assert.equal(statSync(trustStorePath(dir)).mode & 0o777, 0o600)
    assert.equal(await handshake(good.port, '127.0.0.1', opts), 'hello')
    good.server.close()
    // Stored: no probe needed even though the server is now gone.
    const again = await pinnedTlsForUrl({ stateDir: dir, url, fingerprint: goodPin.toLowerCase() })
    assert.deepEqual(again.ca, opts.ca)
    await assert.rejects(
      pinnedTlsForUrl({ stateDir: dir, url: `mqtts://127.0.0.1:${evil.port}`, fingerprint: 'cd'.repeat(32) }),
      (e) => isBackstopError(e, 'BK_ERR_TLS_FINGERPRINT'),
    )
  })
})

async function peerOf(port: number): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const c = s.getPeerCertificate(true)
      s.destroy()
      resolve(c)
    })
    s.once('error', reject)
  })
}
