import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileDurableSync } from '@backstop/node-io'
import { BackstopError, keyFingerprint, keyPairFromSeed, type KeyPair } from '@backstop/shared'

export interface CollectorKeys extends KeyPair {
  readonly fingerprint: string
  readonly file: string
}

/**
 * The collector's signing key: `<dataDir>/keys/collector.json` ({publicKey, secretKey}, base64), created on first
 * start with mode 0600 in a 0700 directory. Agents pin its public key at enrollment, so losing it means every
 * node must re-enroll: back it up with the database.
 */
export function loadOrCreateCollectorKeys(dataDir: string): CollectorKeys {
  const dir = join(dataDir, 'keys')
  const file = join(dir, 'collector.json')
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  let text: string | undefined
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new BackstopError('BK_ERR_INTERNAL_ERROR', `cannot read ${file}: ${(e as Error).message}`, { cause: e })
    }
  }
  if (text === undefined) {
    const kp = keyPairFromSeed(randomBytes(32))
    // exclusive: never overwrite a key another process created in the meantime; durable: a power cut after agents
    // pinned this key must not leave an empty file.
    writeFileDurableSync(file, `${JSON.stringify(kp, null, 2)}\n`, { mode: 0o600, exclusive: true })
    return { ...kp, fingerprint: keyFingerprint(kp.publicKey), file }
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    throw new BackstopError(
      'BK_ERR_INTERNAL_ERROR',
      `${file} is not JSON (${(e as Error).message}); restore it from backup`,
    )
  }
  const kp = parsed as Partial<KeyPair>
  if (typeof kp.publicKey !== 'string' || typeof kp.secretKey !== 'string') {
    throw new BackstopError(
      'BK_ERR_INTERNAL_ERROR',
      `${file} must hold {"publicKey", "secretKey"} (base64); restore it from backup`,
    )
  }
  return { publicKey: kp.publicKey, secretKey: kp.secretKey, fingerprint: keyFingerprint(kp.publicKey), file }
}
