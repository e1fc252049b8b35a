import { createHash } from 'node:crypto'

/** One host key as `ssh-keyscan` prints it and known_hosts stores it. */
export interface HostKey {
  /** `host` for port 22, `[host]:port` otherwise (ssh's own notation, so lookups match). */
  readonly marker: string
  readonly type: string
  readonly base64: string
}

/** The known_hosts name of host:port. */
export function hostMarker(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`
}

/** Pure: key lines of `ssh-keyscan` stdout (comment lines start with `#`; they go to stderr on OpenSSH 9). */
export function parseKeyscan(stdout: string): HostKey[] {
  const out: HostKey[] = []
  for (const line of stdout.split('\n')) {
    const [marker, type, base64] = line.trim().split(/\s+/)
    if (marker && type && base64 && !marker.startsWith('#') && /^[A-Za-z0-9+/]+=*$/.test(base64)) {
      out.push({ marker, type, base64 })
    }
  }
  return out
}

/** `SHA256:…` as `ssh-keygen -lf` prints it (unpadded base64 of the key blob's SHA-256). */
export function fingerprintOf(key: Pick<HostKey, 'base64'>): string {
  const digest = createHash('sha256').update(Buffer.from(key.base64, 'base64')).digest('base64')
  return `SHA256:${digest.replace(/=+$/, '')}`
}

/** Accepts `SHA256:abc…` or the bare base64 an operator copied. */
export function sameFingerprint(a: string, b: string): boolean {
  const norm = (s: string): string =>
    s
      .trim()
      .replace(/^SHA256:/i, '')
      .replace(/=+$/, '')
  return norm(a) === norm(b)
}

/**
 * Pure: `existing` known_hosts text with every line of `marker` replaced by `keys`: pinning again after a host
 * was reinstalled replaces its old key instead of leaving two (ssh would accept either).
 */
export function mergeKnownHosts(existing: string, marker: string, keys: readonly HostKey[]): string {
  const kept = existing
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trim().split(/\s+/)[0]!.split(',').includes(marker))
  return [...kept, ...keys.map((k) => `${marker} ${k.type} ${k.base64}`)].join('\n') + '\n'
}
