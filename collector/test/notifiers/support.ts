import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { AlertFlip } from '@backstop/shared'

export const flip: AlertFlip = {
  key: 'missed-backup/pve1/snap/zfs-dataset/tank',
  kind: 'missed-backup',
  node: 'pve1',
  from: 'none',
  to: 'firing',
  severity: 'critical',
  summary: 'tank missed — no backup',
  at: Date.parse('2026-11-20T01:00:00Z'),
}

export interface Received {
  readonly method: string
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

/**
 * A real HTTP receiver on 127.0.0.1:0 answering each request with the next scripted status (a number, or a status
 * with a Location or Retry-After header); 200 once the script is used up.
 */
export async function receiver(script: (number | { status: number; location?: string; retryAfter?: string })[] = []) {
  const got: Received[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      got.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body })
      const next = script.shift() ?? 200
      const { status, location, retryAfter } = typeof next === 'number' ? { status: next } : next
      res.writeHead(status, { ...(location ? { location } : {}), ...(retryAfter ? { 'retry-after': retryAfter } : {}) })
      res.end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return { got, url, close: () => new Promise<void>((r) => server.close(() => r())) }
}
