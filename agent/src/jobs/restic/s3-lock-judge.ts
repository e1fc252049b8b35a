import type { ProbeOutcome } from './immutability-probe.ts'
import type { LockConfiguration } from './s3-lock-xml.ts'

/** One S3 answer: the HTTP status and the error body's `Code`, if any. */
export interface S3Answer {
  readonly status: number
  readonly code: string | null
}

/** Everything the object-lock probe saw, in the order it asked (the I/O is in s3-lock-probe.ts). */
export interface LockProbeFacts {
  /** The repository as displayed (no credentials). */
  readonly where: string
  readonly canaryKey: string
  /** GetObjectLockConfiguration: read, absent (ObjectLockConfigurationNotFoundError) or not readable (why). */
  readonly config:
    | { readonly state: 'read'; readonly value: LockConfiguration }
    | { readonly state: 'absent' }
    | { readonly state: 'unreadable'; readonly why: string }
  /** x-amz-version-id of the canary's PUT; null when the bucket is not versioned (no object lock is possible). */
  readonly versionId: string | null
  /** HEAD of that version: its x-amz-object-lock-mode / -retain-until-date headers, or why there are none. */
  readonly head: { readonly mode: string | null; readonly retainUntil: string | null } | { readonly error: string }
  /** DELETE of that version (of the key when unversioned) with the node's credentials. */
  readonly deleted: S3Answer
  /** GOVERNANCE only, when the DELETE was refused: the same DELETE with x-amz-bypass-governance-retention: true. */
  readonly bypass: S3Answer | null
}

const accepted = (a: S3Answer): boolean => a.status >= 200 && a.status < 300
const refused = (a: S3Answer): boolean => a.status === 403
const said = (a: S3Answer): string => `${a.status}${a.code !== null ? ` ${a.code}` : ''}`

/**
 * Immutable only when all of it agrees: the bucket declares a default retention (restic's objects get no other), the
 * canary written without lock headers carries that mode and a retain-until ahead, and a DELETE of its version id —
 * the only delete that removes data; one without only adds a delete marker and proves nothing — is refused. A
 * GOVERNANCE lock counts only when the bypass-governance DELETE is refused too: a principal allowed
 * s3:BypassGovernanceRetention deletes through it, and the node's own credentials are what the probe is about.
 * Missing headers or configuration are `unknown`, never `deletable`: a refusal may be a policy, not a lock.
 */
export function judgeObjectLock(f: LockProbeFacts, now: Date): ProbeOutcome {
  const out = (state: 'deletable' | 'unknown', why: string): ProbeOutcome => ({
    state,
    detail: `${f.where}: ${why}${state === 'unknown' ? '; not counted immutable' : ''}`,
  })
  const canary = `the canary ${f.canaryKey}`
  if (f.versionId === null) {
    return accepted(f.deleted)
      ? out('deletable', `the bucket is not versioned (no x-amz-version-id), so no object lock: ${canary} was deleted`)
      : out('unknown', `the bucket is not versioned and the DELETE of ${canary} answered ${said(f.deleted)}`)
  }
  const version = `version ${f.versionId} of ${canary}`
  if (accepted(f.deleted)) {
    return out('deletable', `DELETE of ${version} was accepted (${f.deleted.status}) with this node's credentials`)
  }
  if (!refused(f.deleted)) {
    return out('unknown', `DELETE of ${version} answered ${said(f.deleted)}, which proves nothing`)
  }
  const denied = `DELETE of ${version} was refused (${said(f.deleted)})`
  if ('error' in f.head || f.head.mode === null || f.head.retainUntil === null) {
    const why = 'error' in f.head ? f.head.error : 'it carries no x-amz-object-lock-mode/-retain-until-date headers'
    return out('unknown', `${denied}, but ${why}: a policy denying deletes cannot be told from a lock`)
  }
  const until = Date.parse(f.head.retainUntil)
  if (Number.isNaN(until) || until <= now.getTime()) {
    return out('unknown', `${denied}, but its retain-until "${f.head.retainUntil}" is not ahead`)
  }
  const rule = f.config.state === 'read' && f.config.value.enabled ? f.config.value.defaultRetention : null
  if (rule === null || rule.mode === null) {
    const why =
      f.config.state === 'unreadable'
        ? `the bucket's object-lock configuration could not be read (${f.config.why})`
        : "the bucket declares no default retention, and restic's objects get no other (restic#3195)"
    return out('unknown', `${denied} and it is locked, but ${why}`)
  }
  if (rule.mode !== f.head.mode) {
    return out('unknown', `${denied}, but its mode ${f.head.mode} is not the bucket's default ${rule.mode}`)
  }
  const retainUntil = new Date(until).toISOString()
  const lock = `${f.head.mode} until ${retainUntil} (bucket default ${rule.mode}, ${rule.period ?? 'no period'})`
  if (f.head.mode === 'GOVERNANCE') {
    if (f.bypass === null || !refused(f.bypass)) {
      const answer = f.bypass === null ? 'was not tried' : `answered ${said(f.bypass)}`
      return f.bypass !== null && accepted(f.bypass)
        ? out('deletable', `${denied}, but with x-amz-bypass-governance-retention it was deleted: ${lock}`)
        : out('unknown', `${denied}; the bypass-governance DELETE ${answer}: ${lock}`)
    }
  } else if (f.head.mode !== 'COMPLIANCE') {
    return out('unknown', `${denied}, but its lock mode "${f.head.mode}" is neither COMPLIANCE nor GOVERNANCE`)
  }
  const bypassed = f.head.mode === 'GOVERNANCE' ? ', also with x-amz-bypass-governance-retention,' : ''
  return {
    state: 'object-lock',
    retainUntil,
    detail: `${f.where}: ${denied}${bypassed} with this node's credentials; it is locked ${lock}`,
  }
}
