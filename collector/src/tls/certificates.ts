import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto'
import { isIP } from 'node:net'
import forge from 'node-forge'
import { BackstopError } from '@backstop/shared'

/**
 * The collector's own small PKI (PBS style): a self-signed CA made on first start, and a server certificate
 * it issues for the collector's names. Agents pin the **CA** fingerprint at enrollment, so the server
 * certificate can be renewed without re-enrolling the fleet.
 */
export interface Pem {
  readonly cert: string
  readonly key: string
}

export interface IssuedTls {
  readonly ca: Pem
  readonly server: Pem
}

const DAY = 24 * 60 * 60 * 1000

export function generateCa(opts: { commonName: string; now: Date; days?: number; bits?: number }): Pem {
  const keys = forge.pki.rsa.generateKeyPair({ bits: opts.bits ?? 3072 })
  const cert = baseCert(keys.publicKey, opts.now, opts.days ?? 3650)
  const subject = [
    { name: 'commonName', value: opts.commonName },
    { name: 'organizationName', value: 'Backstop' },
  ]
  cert.setSubject(subject)
  cert.setIssuer(subject)
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ])
  cert.sign(keys.privateKey, forge.md.sha256.create())
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) }
}

/** A server certificate for `names` (DNS names and IP addresses), signed by `ca`. */
export function issueServerCert(
  ca: Pem,
  opts: { names: readonly string[]; now: Date; days?: number; bits?: number },
): Pem {
  if (opts.names.length === 0) {
    throw new BackstopError(
      'BK_ERR_TLS_CONFIG',
      'server certificate needs at least one name: set tls.names in the collector config ' +
        '(hostname or IP the agents use)',
    )
  }
  const caCert = forge.pki.certificateFromPem(ca.cert)
  const caKey = forge.pki.privateKeyFromPem(ca.key)
  const keys = forge.pki.rsa.generateKeyPair({ bits: opts.bits ?? 2048 })
  const cert = baseCert(keys.publicKey, opts.now, opts.days ?? 825)
  cert.setSubject([{ name: 'commonName', value: opts.names[0] as string }])
  cert.setIssuer(caCert.subject.attributes)
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: opts.names.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n })) },
  ])
  cert.sign(caKey, forge.md.sha256.create())
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) }
}

/** SHA-256 of the DER, upper-case hex with colons: the form `openssl x509 -fingerprint -sha256` and Node print. */
export function certFingerprint(pem: string): string {
  return parseCert(pem, 'certificate').fingerprint256
}

export interface CertCheck {
  readonly subject: string
  readonly notAfter: Date
  readonly fingerprint: string
}

/**
 * Checks an operator-supplied or stored pair before the collector listens with it: parsable, key matches
 * the certificate, not expired. Errors name the file so the operator knows what to fix.
 */
export function checkPair(pair: Pem, now: Date, where: string): CertCheck {
  const x = parseCert(pair.cert, where)
  let keyOk: boolean
  try {
    keyOk = x.checkPrivateKey(createPrivateKey(pair.key))
  } catch (e) {
    throw new BackstopError(
      'BK_ERR_TLS_CONFIG',
      `${where}: private key cannot be parsed (${(e as Error).message}); expected a PEM private key`,
    )
  }
  if (!keyOk) {
    throw new BackstopError('BK_ERR_TLS_CONFIG', `${where}: the private key does not belong to the certificate`)
  }
  const notAfter = new Date(x.validTo)
  if (notAfter.getTime() <= now.getTime()) {
    throw new BackstopError(
      'BK_ERR_TLS_CONFIG',
      `${where}: certificate expired on ${notAfter.toISOString()}; renew it ` +
        '(or delete the generated files to have new ones made)',
    )
  }
  return { subject: x.subject, notAfter, fingerprint: x.fingerprint256 }
}

function parseCert(pem: string, where: string): X509Certificate {
  try {
    return new X509Certificate(pem)
  } catch (e) {
    throw new BackstopError('BK_ERR_TLS_CONFIG', `${where}: not a PEM certificate (${(e as Error).message})`)
  }
}

function baseCert(publicKey: forge.pki.PublicKey, now: Date, days: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate()
  cert.publicKey = publicKey
  // Positive 128-bit serial (leading byte < 0x80 keeps it positive in DER).
  const serial = randomBytes(16)
  serial[0] = (serial[0] as number) & 0x7f
  cert.serialNumber = serial.toString('hex')
  // Back-dated an hour so a slightly slow agent clock does not see a not-yet-valid certificate.
  cert.validity.notBefore = new Date(now.getTime() - 60 * 60 * 1000)
  cert.validity.notAfter = new Date(now.getTime() + days * DAY)
  return cert
}
