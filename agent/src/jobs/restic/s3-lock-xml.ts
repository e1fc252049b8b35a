import { XMLParser } from 'fast-xml-parser'

/** What GetObjectLockConfiguration said about a bucket (pure parse of its XML; null fields were absent). */
export interface LockConfiguration {
  /** `ObjectLockEnabled` is `Enabled`. */
  readonly enabled: boolean
  /** The default retention restic's objects get (restic sets none itself, restic#3195); null without a rule. */
  readonly defaultRetention: {
    readonly mode: 'COMPLIANCE' | 'GOVERNANCE' | null
    /** The period as `N days` / `N years`; null when the rule names neither. */
    readonly period: string | null
  } | null
}

// Tag values stay strings (a mode is never a number); attributes (xmlns) are not needed.
const parser = new XMLParser({ ignoreAttributes: true, removeNSPrefix: true, parseTagValue: false, trimValues: true })

function parse(xml: string): Record<string, unknown> | null {
  try {
    const doc: unknown = parser.parse(xml)
    return typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>) : null
  } catch {
    return null
  }
}

function child(node: unknown, name: string): unknown {
  return typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[name] : undefined
}

function text(node: unknown, name: string): string | null {
  const v = child(node, name)
  return typeof v === 'string' && v !== '' ? v : null
}

/** A GetObjectLockConfiguration body; null when it is not an `ObjectLockConfiguration` document. */
export function parseLockConfiguration(xml: string): LockConfiguration | null {
  const root = child(parse(xml), 'ObjectLockConfiguration')
  if (root === undefined) {
    return null
  }
  const enabled = text(root, 'ObjectLockEnabled') === 'Enabled'
  const rule = child(child(root, 'Rule'), 'DefaultRetention')
  if (rule === undefined) {
    return { enabled, defaultRetention: null }
  }
  const mode = text(rule, 'Mode')
  // AWS allows Days or Years; some servers (moto) also send the other one as 0.
  const days = Number(text(rule, 'Days') ?? '0')
  const years = Number(text(rule, 'Years') ?? '0')
  const period = days > 0 ? `${days} days` : years > 0 ? `${years} years` : null
  return {
    enabled,
    defaultRetention: { mode: mode === 'COMPLIANCE' || mode === 'GOVERNANCE' ? mode : null, period },
  }
}

/** The `Code` of an S3 error body (`AccessDenied`, `ObjectLockConfigurationNotFoundError` …); null if none. */
export function parseErrorCode(xml: string): string | null {
  return text(child(parse(xml), 'Error'), 'Code')
}
