import { X509Certificate } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { join } from 'node:path'
import { writeFileDurableSync } from '@backstop/node-io'
import { BackstopError } from '@backstop/shared'
import { type Pem, certFingerprint, checkPair, generateCa, issueServerCert } from './certificates.ts'

export interface TlsFiles {
  /** Operator-supplied server certificate (PEM, may include the chain) and key. Both or neither. */
  readonly certFile?: string | undefined
  readonly keyFile?: string | undefined
  /** Operator-supplied CA certificate that agents should pin; default: the last certificate in certFile. */
  readonly caFile?: string | undefined
}

export interface CollectorTls {
  /** Server certificate followed by its CA: agents receive the chain and pin the CA. */
  readonly certChain: string
  readonly key: string
  readonly caCert: string
  /** What `token create` prints and the agent pins: SHA-256 of the CA certificate's DER. */
  readonly fingerprint: string
  readonly serverFingerprint: string
  readonly source: 'generated' | 'stored' | 'operator'
}

export interface TlsSetup {
  /** `<dataDir>/tls`: where generated material lives (CA key 0600). */
  readonly dir: string
  /** Names the server certificate must carry (hostnames / IPs agents connect to). */
  readonly names: readonly string[]
  readonly files?: TlsFiles
  readonly now: Date
  /** RSA sizes; defaults 3072 (CA) / 2048 (server). Tests pass smaller numbers for speed. */
  readonly keyBits?: { readonly ca: number; readonly server: number }
}

/**
 * Operator files win; otherwise the stored generated pair is reused; otherwise a new CA + server certificate
 * is made (first start). A stored server certificate that lacks a configured name or is near expiry is
 * re-issued from the same CA, so agents keep their pin.
 */
export function loadOrCreateTls(s: TlsSetup): CollectorTls {
  if (s.files?.certFile || s.files?.keyFile) {
    return fromOperatorFiles(s.files, s.now)
  }
  mkdirSync(s.dir, { recursive: true, mode: 0o700 })
  const p = {
    caCert: join(s.dir, 'ca.pem'),
    caKey: join(s.dir, 'ca.key'),
    cert: join(s.dir, 'server.pem'),
    key: join(s.dir, 'server.key'),
  }
  let source: CollectorTls['source'] = 'stored'
  let ca: Pem
  if (existsSync(p.caCert) && existsSync(p.caKey)) {
    ca = { cert: readFileSync(p.caCert, 'utf8'), key: readFileSync(p.caKey, 'utf8') }
    checkPair(ca, s.now, p.caCert)
  } else {
    ca = generateCa({ commonName: 'Backstop collector CA', now: s.now, ...(s.keyBits ? { bits: s.keyBits.ca } : {}) })
    writeSecret(p.caKey, ca.key)
    writeSecret(p.caCert, ca.cert)
    source = 'generated'
  }
  let server: Pem | undefined
  if (source === 'stored' && existsSync(p.cert) && existsSync(p.key)) {
    server = { cert: readFileSync(p.cert, 'utf8'), key: readFileSync(p.key, 'utf8') }
    const c = checkPair(server, s.now, p.cert)
    const renewBefore = s.now.getTime() + 30 * 24 * 60 * 60 * 1000
    if (c.notAfter.getTime() < renewBefore || !coversNames(server.cert, s.names)) {
      server = undefined
    }
  }
  if (!server) {
    server = issueServerCert(ca, { names: s.names, now: s.now, ...(s.keyBits ? { bits: s.keyBits.server } : {}) })
    writeSecret(p.key, server.key)
    writeSecret(p.cert, server.cert)
  }
  return {
    certChain: `${server.cert.trimEnd()}\n${ca.cert.trimEnd()}\n`,
    key: server.key,
    caCert: ca.cert,
    fingerprint: certFingerprint(ca.cert),
    serverFingerprint: certFingerprint(server.cert),
    source,
  }
}

function fromOperatorFiles(f: TlsFiles, now: Date): CollectorTls {
  if (!f.certFile || !f.keyFile) {
    throw new BackstopError('BK_ERR_TLS_CONFIG', 'tls.certFile and tls.keyFile must be set together')
  }
  const certText = read(f.certFile)
  const key = read(f.keyFile)
  const certs = splitPem(certText)
  if (certs.length === 0) {
    throw new BackstopError('BK_ERR_TLS_CONFIG', `${f.certFile}: no PEM certificate found`)
  }
  checkPair({ cert: certs[0] as string, key }, now, f.certFile)
  const caCert = f.caFile ? (splitPem(read(f.caFile))[0] ?? '') : (certs.at(-1) as string)
  if (!caCert) {
    throw new BackstopError('BK_ERR_TLS_CONFIG', `${f.caFile}: no PEM certificate found`)
  }
  const chain = f.caFile && !certs.some((c) => c.trim() === caCert.trim()) ? [...certs, caCert] : certs
  return {
    certChain: `${chain.map((c) => c.trimEnd()).join('\n')}\n`,
    key,
    caCert,
    fingerprint: certFingerprint(caCert),
    serverFingerprint: certFingerprint(certs[0] as string),
    source: 'operator',
  }
}

function coversNames(certPem: string, names: readonly string[]): boolean {
  const x = new X509Certificate(certPem)
  return names.every((n) => (isIP(n) ? x.checkIP(n) : x.checkHost(n)) !== undefined)
}

function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
}

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (e) {
    throw new BackstopError(
      'BK_ERR_TLS_CONFIG',
      `${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); ` +
        'check the path and that the collector user may read it',
    )
  }
}

/** Written 0600 and durably, so neither a crash nor a power cut leaves half a key. */
function writeSecret(file: string, text: string): void {
  writeFileDurableSync(file, text, { mode: 0o600 })
}
