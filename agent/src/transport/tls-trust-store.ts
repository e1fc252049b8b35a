import { X509Certificate } from 'node:crypto'
import { mkdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { writeFileDurableSync } from '@backstop/node-io'
import { fetchPinnedCa, normalizeFingerprint, type PinnedTlsOptions, pinnedTlsOptions } from './tls-pinning.ts'

/**
 * `<stateDir>/keys/collector-tls.json` remembers the CA that matched the pin, so later starts need no probe.
 * When the configured pin changes (collector reinstalled, operator updated the fingerprint) it is fetched again.
 */
interface Stored {
  readonly pin: string
  readonly caPem: string
}

export function trustStorePath(stateDir: string): string {
  return join(stateDir, 'keys', 'collector-tls.json')
}

export async function pinnedTlsForUrl(o: {
  stateDir: string
  url: string
  fingerprint: string
  timeoutMs?: number
}): Promise<PinnedTlsOptions> {
  const pin = normalizeFingerprint(o.fingerprint)
  const file = trustStorePath(o.stateDir)
  const stored = readStored(file)
  if (stored && stored.pin === pin) {
    return pinnedTlsOptions(stored.caPem, pin)
  }
  const u = new URL(o.url)
  const host = u.hostname.replace(/^\[|\]$/g, '')
  const caPem = await fetchPinnedCa({
    host,
    port: Number(u.port || 8883),
    pin,
    ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
  })
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  writeFileDurableSync(file, JSON.stringify({ pin, caPem } satisfies Stored), { mode: 0o600 })
  return pinnedTlsOptions(caPem, pin)
}

function readStored(file: string): Stored | undefined {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as Stored
    // A damaged or foreign file is ignored (re-fetched against the pin), never trusted as is.
    new X509Certificate(v.caPem)
    return typeof v.pin === 'string' ? v : undefined
  } catch {
    return undefined
  }
}
