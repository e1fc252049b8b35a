import { spawn } from 'node:child_process'
import { createServer, request, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { TestContext } from 'node:test'
import { hasCommand } from './platform.ts'
import { freePort } from './processes.ts'
import { waitFor } from './wait-for.ts'

/**
 * moto's S3 server (pip `moto[server]`, scripts/setup.sh --test) for one test, on a loopback port of its own, killed in
 * t.after. moto is an EMULATOR of S3 that implements the object-lock API (versioned DELETE refused while a retention
 * holds, GOVERNANCE bypass, default retention applied at PUT); it is not a real S3 server, and it checks no
 * signatures: what these tests prove is the probe's logic against moto's answers (env-feasibility-wave2.md §3).
 * Buckets are set up with plain HTTP here, not with the agent's S3 code under test.
 */
export interface TestMoto {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string
  stop(): void
}

export function motoReady(): string | null {
  return hasCommand('moto_server')
    ? null
    : 'moto_server is not installed (scripts/setup.sh --test installs moto[server])'
}

export async function startMoto(t: TestContext): Promise<TestMoto> {
  const port = await freePort()
  let log = ''
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout.on('data', (b: Buffer) => (log += b.toString()))
  child.stderr.on('data', (b: Buffer) => (log += b.toString()))
  let stopped = false
  const stop = (): void => {
    if (!stopped) {
      stopped = true
      child.kill('SIGTERM')
    }
  }
  t.after(stop)
  const endpoint = `http://127.0.0.1:${port}`
  await waitFor(async () => (await fetch(`${endpoint}/`).catch(() => null))?.status === 200, {
    what: `moto_server to answer on ${endpoint} (its output so far: ${log.slice(-500)})`,
    timeoutMs: 30_000,
  })
  return { endpoint, stop }
}

/** moto wants an Authorization header to know the account; it does not verify it. */
const AUTH = 'AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0'

async function call(url: string, method: string, headers: Record<string, string> = {}, body?: string): Promise<void> {
  const r = await fetch(url, { method, headers: { authorization: AUTH, ...headers }, ...(body ? { body } : {}) })
  if (r.status >= 300) {
    throw new Error(`${method} ${url} answered ${r.status}: ${await r.text()}`)
  }
}

/**
 * A bucket as the test needs it: `lock` creates it with object lock enabled (and so versioned), `retention` sets its
 * default retention, `versioned` turns versioning on without a lock.
 */
export async function createBucket(
  moto: TestMoto,
  name: string,
  opts: { lock?: boolean; versioned?: boolean; retention?: { mode: 'COMPLIANCE' | 'GOVERNANCE'; days: number } } = {},
): Promise<void> {
  const bucket = `${moto.endpoint}/${name}`
  await call(bucket, 'PUT', opts.lock ? { 'x-amz-bucket-object-lock-enabled': 'true' } : {})
  const xml = { 'content-type': 'application/xml' }
  if (opts.versioned) {
    const body = '<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>'
    await call(`${bucket}?versioning`, 'PUT', xml, body)
  }
  if (opts.retention) {
    const { mode, days } = opts.retention
    const body =
      '<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention>' +
      `<Mode>${mode}</Mode><Days>${days}</Days></DefaultRetention></Rule></ObjectLockConfiguration>`
    await call(`${bucket}?object-lock`, 'PUT', xml, body)
  }
}

/**
 * A pass-through HTTP proxy in front of moto that, while `hideLockHeaders` is set, drops the x-amz-object-lock-*
 * response headers — as a gateway, an S3-compatible server without the lock API, or credentials without
 * s3:GetObjectRetention would: the lock still refuses deletes, but nothing says why.
 */
export async function startLockHidingProxy(
  t: TestContext,
  target: TestMoto,
): Promise<{ endpoint: string; hideLockHeaders: boolean }> {
  const state = { endpoint: '', hideLockHeaders: false }
  const to = new URL(target.endpoint)
  const server = createServer((req, res) => {
    const up = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        const headers: IncomingHttpHeaders = { ...r.headers }
        for (const k of Object.keys(headers)) {
          if (state.hideLockHeaders && k.startsWith('x-amz-object-lock-')) {
            delete headers[k]
          }
        }
        res.writeHead(r.statusCode ?? 502, headers)
        r.pipe(res)
      },
    )
    up.on('error', (e) => res.destroy(e))
    req.pipe(up)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  )
  state.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return state
}
