import { X509Certificate } from 'node:crypto'
import {
  type ConnectionOptions,
  type DetailedPeerCertificate,
  type PeerCertificate,
  checkServerIdentity,
  connect,
} from 'node:tls'
import { BackstopError } from '@backstop/shared'

/**
 * Certificate pinning like Proxmox Backup Server: the operator copies the collector's CA fingerprint
 * (printed by `backstop-collector token create`) into the agent config; the agent trusts exactly that CA.
 *
 * Node calls `checkServerIdentity` only after the chain verified, so a self-signed collector CA must first
 * be in `ca`. `fetchPinnedCa` gets it with a one-off handshake that accepts the chain **only if** a certificate
 * in it has the pinned fingerprint; after that every connection verifies the chain against that CA and
 * re-checks the pin and the host name, so no MQTT byte (the signed CONNECT password) is ever sent to an
 * impostor.
 */

const HEX_FP = /^[0-9A-F]{64}$/

/** Accepts `AB:CD:…`, `abcd…` or `sha256//AB:…`; returns Node's form (upper-case, colon-separated). */
export function normalizeFingerprint(input: string): string {
  const hex = input
    .trim()
    .replace(/^sha256\/\//i, '')
    .replace(/[:\s]/g, '')
    .toUpperCase()
  if (!HEX_FP.test(hex)) {
    throw new BackstopError(
      'BK_ERR_CONFIG_INVALID',
      `collector.fingerprint ${JSON.stringify(input)} is not a SHA-256 fingerprint (64 hex digits, ` +
        'colons optional); copy it from `backstop-collector token create`',
    )
  }
  return hex.match(/../g)!.join(':')
}

/** Fingerprints of the presented chain, leaf first (stops at the self-signed root). */
export function chainFingerprints(cert: PeerCertificate | DetailedPeerCertificate): string[] {
  const out: string[] = []
  let c: PeerCertificate | DetailedPeerCertificate | undefined = cert
  while (c && c.fingerprint256 && !out.includes(c.fingerprint256)) {
    out.push(c.fingerprint256)
    const issuer: DetailedPeerCertificate | undefined = (c as DetailedPeerCertificate).issuerCertificate
    c = issuer && issuer !== c ? issuer : undefined
  }
  return out
}

function mismatch(pin: string, got: readonly string[], where: string): BackstopError {
  return new BackstopError(
    'BK_ERR_TLS_FINGERPRINT',
    `${where} presented certificates ${got.join(', ') || '(none)'}, none matches the pinned ${pin}. ` +
      'If the collector was reinstalled, verify the new fingerprint with its operator and update ' +
      'collector.fingerprint; otherwise something is intercepting the connection',
  )
}

/** The `checkServerIdentity` for every connection: standard host-name check plus the pin. */
export function pinnedServerIdentity(pin: string): NonNullable<ConnectionOptions['checkServerIdentity']> {
  const want = normalizeFingerprint(pin)
  return (host, cert) => {
    const got = chainFingerprints(cert)
    if (!got.includes(want)) {
      return mismatch(want, got, host)
    }
    const hostErr = checkServerIdentity(host, cert)
    if (hostErr) {
      return new BackstopError(
        'BK_ERR_TLS_FINGERPRINT',
        `collector certificate is pinned but not issued for ${JSON.stringify(host)} (${hostErr.message}); ` +
          `add that name to the collector's tls.names or connect by a name it carries`,
      )
    }
    return undefined
  }
}

/** TLS options for MQTT.js (whose `ca` type is narrower than node:tls's) and https once the CA is known. */
export interface PinnedTlsOptions {
  readonly ca: string[]
  readonly rejectUnauthorized: true
  readonly checkServerIdentity: NonNullable<ConnectionOptions['checkServerIdentity']>
  readonly minVersion: 'TLSv1.2'
}

export function pinnedTlsOptions(caPem: string, pin: string): PinnedTlsOptions {
  return {
    ca: [caPem],
    rejectUnauthorized: true,
    checkServerIdentity: pinnedServerIdentity(pin),
    minVersion: 'TLSv1.2',
  }
}

/**
 * One handshake (nothing is written after it) that returns the root of the presented chain as PEM when the
 * chain contains the pinned certificate; otherwise BK_ERR_TLS_FINGERPRINT.
 */
export function fetchPinnedCa(o: { host: string; port: number; pin: string; timeoutMs?: number }): Promise<string> {
  const want = normalizeFingerprint(o.pin)
  return new Promise((resolve, reject) => {
    const sock = connect({
      host: o.host,
      port: o.port,
      servername: isIpLiteral(o.host) ? undefined : o.host,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    })
    const timer = setTimeout(() => {
      sock.destroy()
      reject(
        new BackstopError(
          'BK_ERR_TLS_FINGERPRINT',
          `no TLS handshake from ${o.host}:${o.port} within ${o.timeoutMs ?? 10000} ms; ` +
            'is the collector listening with TLS there?',
        ),
      )
    }, o.timeoutMs ?? 10000)
    sock.once('secureConnect', () => {
      clearTimeout(timer)
      const peer = sock.getPeerCertificate(true)
      sock.destroy()
      const got = chainFingerprints(peer)
      if (!got.includes(want)) {
        reject(mismatch(want, got, `${o.host}:${o.port}`))
        return
      }
      let root: DetailedPeerCertificate = peer
      while (
        root.issuerCertificate &&
        root.issuerCertificate !== root &&
        root.issuerCertificate.fingerprint256 !== root.fingerprint256
      ) {
        root = root.issuerCertificate
      }
      resolve(new X509Certificate(root.raw).toString())
    })
    sock.once('error', (e) => {
      clearTimeout(timer)
      reject(
        new BackstopError('BK_ERR_TLS_FINGERPRINT', `TLS handshake with ${o.host}:${o.port} failed: ${e.message}`, {
          cause: e,
        }),
      )
    })
  })
}

function isIpLiteral(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':')
}
