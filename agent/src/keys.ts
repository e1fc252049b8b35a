import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { fsyncDir, writeFileDurable } from '@backstop/node-io'
import { BackstopError, fromB64, keyPairFromSeed, type KeyPair } from '@backstop/shared'
import type { Log } from './log.ts'

/**
 * `<stateDir>/keys`: 0700, holding node.json (the node's Ed25519 pair) and collector.json (the pinned collector key).
 */
export function keysDir(stateDir: string): string {
  return join(stateDir, 'keys')
}

/**
 * The node's signing key: read it, or generate it on first start (docs/protocol.md "Keys"). Creation is
 * create-if-absent (link(2) fails on an existing file), so two processes starting at once end up with one key.
 */
export async function loadOrCreateNodeKey(stateDir: string, log?: Log): Promise<KeyPair> {
  const dir = await ensureKeysDir(stateDir, log)
  const path = join(dir, 'node.json')
  const existing = await readKeyFile(path, log)
  if (existing) {
    return parseNodeKey(existing, path)
  }
  const kp = keyPairFromSeed(randomBytes(32))
  try {
    // 0600 explicitly: a data file's default mode follows `group:` (0640); a private key never does.
    await writeFileDurable(path, `${JSON.stringify(kp)}\n`, { mode: 0o600, exclusive: true })
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw e
    }
    // Another process created it first: make sure its name is on disk before this one relies on it.
    await fsyncDir(dir)
  }
  const stored = parseNodeKey((await readKeyFile(path, log)) as string, path)
  if (stored.publicKey === kp.publicKey) {
    log?.info({ file: path }, 'generated the node key pair')
  }
  return stored
}

/** The collector's public key pinned at enrollment, or null before enrollment. */
export async function loadCollectorKey(stateDir: string, log?: Log): Promise<string | null> {
  const path = join(keysDir(stateDir), 'collector.json')
  const text = await readKeyFile(path, log)
  if (text === null) {
    return null
  }
  let pk: unknown
  try {
    pk = (JSON.parse(text) as { publicKey?: unknown }).publicKey
  } catch {
    pk = undefined
  }
  if (typeof pk !== 'string' || fromB64(pk).length !== 32) {
    throw new BackstopError(
      'BK_ERR_KEY_FILE_INVALID',
      `${path} must hold {"publicKey": "<32 bytes base64>"}; delete it to enroll again ` +
        `(the collector must still accept this node's key)`,
    )
  }
  return pk
}

/** Pins the collector key durably (writeFileDurable: the old pin or the new survives a crash). */
export async function saveCollectorKey(stateDir: string, publicKey: string, log?: Log): Promise<void> {
  if (fromB64(publicKey).length !== 32) {
    throw new BackstopError(
      'BK_ERR_KEY_FILE_INVALID',
      'refusing to pin a collector public key that is not 32 bytes of base64: ' +
        `${JSON.stringify(publicKey.slice(0, 64))}`,
    )
  }
  const dir = await ensureKeysDir(stateDir, log)
  await writeFileDurable(join(dir, 'collector.json'), `${JSON.stringify({ publicKey })}\n`, { mode: 0o600 })
}

async function ensureKeysDir(stateDir: string, log?: Log): Promise<string> {
  const dir = keysDir(stateDir)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const st = await stat(dir)
  if ((st.mode & 0o077) !== 0) {
    log?.warn(
      { dir, mode: (st.mode & 0o777).toString(8) },
      'keys directory was accessible to other users; set it to 0700',
    )
    await chmod(dir, 0o700)
  }
  return dir
}

async function readKeyFile(path: string, log?: Log): Promise<string | null> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return null
    }
    throw new BackstopError('BK_ERR_KEY_FILE_INVALID', `${path}: ${(e as Error).message}`, { cause: e })
  }
  const st = await stat(path)
  if ((st.mode & 0o077) !== 0) {
    log?.warn(
      { file: path, mode: (st.mode & 0o777).toString(8) },
      'key file was accessible to other users; set it to 0600',
    )
    await chmod(path, 0o600)
  }
  return text
}

function parseNodeKey(text: string, path: string): KeyPair {
  let v: Partial<KeyPair>
  try {
    v = JSON.parse(text) as Partial<KeyPair>
  } catch {
    v = {}
  }
  const sk = typeof v.secretKey === 'string' ? fromB64(v.secretKey) : new Uint8Array(0)
  // The secret key embeds its seed: regenerating from it proves the pair is whole and matches.
  const ok =
    sk.length === 64 && typeof v.publicKey === 'string' && keyPairFromSeed(sk.subarray(0, 32)).publicKey === v.publicKey
  if (!ok) {
    throw new BackstopError(
      'BK_ERR_KEY_FILE_INVALID',
      `${path} must hold {"publicKey", "secretKey"} (base64 Ed25519, secretKey 64 bytes) ` +
        'that belong together; restore it from backup. Deleting it creates a new identity that the collector ' +
        'refuses until an admin re-enrolls the node',
    )
  }
  return { publicKey: v.publicKey as string, secretKey: v.secretKey as string }
}
