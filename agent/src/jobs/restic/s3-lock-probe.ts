import { createHash, randomBytes } from 'node:crypto'
import type { ResolvedResticJob } from './config.ts'
import type { ProbeOutcome } from './immutability-probe.ts'
import { judgeObjectLock, type LockProbeFacts, type S3Answer } from './s3-lock-judge.ts'
import { parseErrorCode, parseLockConfiguration } from './s3-lock-xml.ts'
import { parseS3Url, s3CredentialsOf, signS3Request, type S3Request } from './s3-request.ts'

/** The part of `fetch` the probe uses (the global one in the agent; tests may pass their own). */
export type HttpFetch = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: Uint8Array; signal: AbortSignal },
) => Promise<{ status: number; headers: { get(name: string): string | null }; text(): Promise<string> }>

/** Where the canaries go, under the repository's prefix; restic lists only its own folders and never sees them. */
export const CANARY_FOLDER = 'backstop-lock-canary'

interface Answer extends S3Answer {
  readonly header: (name: string) => string | null
  readonly body: string
}

/**
 * Proves, with the node's own S3 credentials (the job's envFile, as restic gets them), whether the repository's
 * objects can be deleted: reads the bucket's object-lock configuration, writes a small canary object under the
 * repository prefix without lock headers (so only the bucket's default retention can lock it, as it locks restic's
 * objects), HEADs that version for its lock headers, and DELETEs that version id — once more with
 * x-amz-bypass-governance-retention in GOVERNANCE mode. s3-lock-judge.ts decides. A canary that stays (locked) is
 * hidden behind a delete marker; a lifecycle rule for noncurrent versions removes it once its retention ends.
 * HEAD rather than GetObjectRetention: it carries the same two fields and moto, the emulator the tests use, does not
 * implement GetObjectRetention.
 */
export async function probeObjectLock(
  cfg: ResolvedResticJob,
  env: Readonly<Record<string, string | undefined>>,
  now: Date,
  fetchFn: HttpFetch = fetch as unknown as HttpFetch,
  timeoutMs = 15_000,
): Promise<ProbeOutcome> {
  const where = cfg.repository.display
  const unknown = (why: string): ProbeOutcome => ({
    state: 'unknown',
    detail: `${where}: ${why}; not counted immutable`,
  })
  const loc = parseS3Url(cfg.repository.url)
  if (loc === null) {
    return unknown('not an s3:http(s)://host[:port]/bucket[/prefix] URL, so the object-lock probe cannot run')
  }
  const creds = s3CredentialsOf(env)
  if (typeof creds === 'string') {
    return unknown(creds)
  }
  const send = async (req: S3Request): Promise<Answer> => {
    const signed = signS3Request(loc, creds, req, now)
    const r = await fetchFn(signed.url, {
      method: req.method,
      headers: signed.headers,
      ...(req.body !== undefined ? { body: req.body } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    })
    const body = await r.text()
    const code = r.status >= 300 ? parseErrorCode(body) : null
    return { status: r.status, code, body, header: (n) => r.headers.get(n) }
  }
  const canaryKey = [loc.prefix, CANARY_FOLDER, randomBytes(16).toString('hex')].filter((p) => p !== '').join('/')
  try {
    const config = await readConfig(send)
    const body = Buffer.from(`backstop object-lock probe ${now.toISOString()}\n`)
    const put = await send({
      method: 'PUT',
      key: canaryKey,
      // Content-MD5: S3 refuses a PUT into a bucket with a default retention without it.
      headers: { 'Content-Type': 'text/plain', 'Content-MD5': createHash('md5').update(body).digest('base64') },
      body,
    })
    if (put.status < 200 || put.status >= 300) {
      return unknown(`the canary ${canaryKey} could not be written (${put.status}${put.code ? ` ${put.code}` : ''})`)
    }
    const v = put.header('x-amz-version-id')
    const versionId = v === null || v === '' || v === 'null' ? null : v
    const facts: LockProbeFacts =
      versionId === null
        ? {
            where,
            canaryKey,
            config,
            versionId,
            head: { error: 'unversioned' },
            deleted: await send(del()),
            bypass: null,
          }
        : await versioned({ where, canaryKey, config, versionId })
    return judgeObjectLock(facts, now)
  } catch (e) {
    return unknown(`the object-lock probe got no answer: ${(e as Error).message}`)
  }

  function del(versionId?: string, bypass = false): S3Request {
    return {
      method: 'DELETE',
      key: canaryKey,
      ...(versionId !== undefined ? { query: [['versionId', versionId]] } : {}),
      ...(bypass ? { headers: { 'x-amz-bypass-governance-retention': 'true' } } : {}),
    }
  }

  async function versioned(
    f: Pick<LockProbeFacts, 'where' | 'canaryKey' | 'config'> & { versionId: string },
  ): Promise<LockProbeFacts> {
    const h = await send({ method: 'HEAD', key: canaryKey, query: [['versionId', f.versionId]] })
    const head =
      h.status === 200
        ? { mode: h.header('x-amz-object-lock-mode'), retainUntil: h.header('x-amz-object-lock-retain-until-date') }
        : { error: `its HEAD answered ${h.status}` }
    const deleted = await send(del(f.versionId))
    const governance = 'mode' in head && head.mode === 'GOVERNANCE' && deleted.status === 403
    const bypass = governance ? await send(del(f.versionId, true)) : null
    if (deleted.status === 403 && (bypass === null || bypass.status === 403)) {
      // Still there: out of sight behind a delete marker (this proves nothing and may fail: that is fine).
      await send(del()).catch(() => undefined)
    }
    return { ...f, head, deleted, bypass }
  }
}

async function readConfig(send: (r: S3Request) => Promise<Answer>): Promise<LockProbeFacts['config']> {
  const r = await send({ method: 'GET', query: [['object-lock', '']] })
  if (r.status === 200) {
    const value = parseLockConfiguration(r.body)
    return value === null
      ? { state: 'unreadable', why: 'not an ObjectLockConfiguration document' }
      : { state: 'read', value }
  }
  if (r.status === 404 && r.code === 'ObjectLockConfigurationNotFoundError') {
    return { state: 'absent' }
  }
  return { state: 'unreadable', why: `${r.status} ${r.code ?? 'without an error code'}` }
}
