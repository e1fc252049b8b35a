import { posix } from 'node:path'

/** `rclone config dump`: remote name → its options (`type` and the backend's own keys), as rclone printed them. */
export type RcloneConfig = ReadonlyMap<string, Readonly<Record<string, string>>>

/** Where an rclone path really is: a directory of this host, a server, or something the agent cannot tell. */
export type RclonePlace =
  | { readonly kind: 'local'; readonly path: string }
  | { readonly kind: 'host'; readonly host: string }
  | { readonly kind: 'unknown'; readonly why: string }

/** The JSON object `rclone config dump` prints (recorded: agent/test/fixtures/rclone/config-dump.json). */
export function parseRcloneConfigDump(stdout: string): RcloneConfig {
  const doc = JSON.parse(stdout) as unknown
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new Error('rclone config dump printed no JSON object')
  }
  const out = new Map<string, Record<string, string>>()
  for (const [name, opts] of Object.entries(doc as Record<string, unknown>)) {
    if (typeof opts === 'object' && opts !== null) {
      out.set(name, Object.fromEntries(Object.entries(opts).map(([k, v]) => [k, String(v)])))
    }
  }
  return out
}

/** Backends that store nothing themselves but wrap one other remote (`remote = other:path`). */
const wrappers = new Set(['alias', 'crypt', 'chunker', 'compress', 'hasher', 'cache'])
/** Backends spread over several upstreams: no single place to name. */
const spreads = new Set(['union', 'combine'])
const maxHops = 8

/**
 * Follows `remote:path` (a restic `rclone:` repository without its prefix) through alias/crypt/… wrappers to the
 * backend that stores the bytes: `local` is a directory of this host; sftp/ftp/smb their `host`; webdav/http their
 * URL's host; s3 its endpoint's host (AWS without one: `s3.<region>.amazonaws.com`); any other cloud backend its
 * type (`b2`, `drive`: a provider, whichever account). On-the-fly remotes (`:local:/path`, `:sftp,host=h:`) too.
 */
export function rclonePlace(config: RcloneConfig, spec: string): RclonePlace {
  let at = spec
  for (let hop = 0; hop < maxHops; hop++) {
    const split = splitRemote(at)
    if (split === null) {
      // A wrapper pointing at a bare path (`remote = /mnt/usb`) points at this host's filesystem.
      return { kind: 'local', path: posix.resolve('/', at) }
    }
    const opts = split.inline ?? config.get(split.name)
    if (opts === undefined) {
      return { kind: 'unknown', why: `rclone remote "${split.name}" is not in rclone's config as the agent sees it` }
    }
    const type = opts['type'] ?? ''
    if (wrappers.has(type)) {
      const inner = opts['remote']
      if (inner === undefined || inner === '') {
        return { kind: 'unknown', why: `rclone remote "${split.name}" (${type}) names no remote` }
      }
      at = split.path === '' ? inner : `${inner.replace(/\/+$/, '')}/${split.path}`
      continue
    }
    return placeOf(type, opts, split.name, split.path)
  }
  return { kind: 'unknown', why: `rclone remote chain of "${spec}" is longer than ${maxHops} hops (a loop?)` }
}

function placeOf(type: string, opts: Readonly<Record<string, string>>, name: string, path: string): RclonePlace {
  if (type === 'local') {
    return { kind: 'local', path: posix.resolve('/', path) }
  }
  if (spreads.has(type)) {
    return { kind: 'unknown', why: `rclone remote "${name}" (${type}) spreads over several upstreams` }
  }
  const host = hostOf(type, opts)
  return host === null
    ? { kind: 'unknown', why: `rclone remote "${name}" (${type}) names no host` }
    : { kind: 'host', host: host.toLowerCase() }
}

function hostOf(type: string, opts: Readonly<Record<string, string>>): string | null {
  switch (type) {
    case 'sftp':
    case 'ftp':
    case 'smb':
      return opts['host'] || null
    case 'webdav':
    case 'http':
      return urlHostname(opts['url'])
    case 's3':
      return opts['endpoint']
        ? urlHostname(/^[a-z]+:\/\//i.test(opts['endpoint']) ? opts['endpoint'] : `https://${opts['endpoint']}`)
        : opts['provider'] === undefined || opts['provider'] === 'AWS'
          ? `s3.${opts['region'] || 'us-east-1'}.amazonaws.com`
          : null
    default:
      return type === '' ? null : type
  }
}

function urlHostname(url: string | undefined): string | null {
  try {
    return url ? new URL(url).hostname.replace(/^\[(.*)\]$/, '$1') || null : null
  } catch {
    return null
  }
}

/** `name:path`, or an on-the-fly `:type,key=value,…:path`; null when there is no remote part (a plain path). */
function splitRemote(
  at: string,
): { name: string; path: string; inline: Readonly<Record<string, string>> | null } | null {
  if (at.startsWith(':')) {
    const end = at.indexOf(':', 1)
    const head = end < 0 ? at.slice(1) : at.slice(1, end)
    const [type = '', ...kv] = head.split(',')
    const inline = Object.fromEntries([
      ['type', type],
      ...kv.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1).replace(/^'(.*)'$/, '$1')]),
    ]) as Record<string, string>
    return { name: `:${type}`, path: end < 0 ? '' : at.slice(end + 1), inline }
  }
  const m = /^([\w.\- ]+):(.*)$/s.exec(at)
  return m === null ? null : { name: m[1]!, path: m[2]!, inline: null }
}
