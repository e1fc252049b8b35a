import { createHash } from 'node:crypto'
import aws4 from 'aws4'

/** Where a restic `s3:` repository lives: the endpoint (scheme, host, port), the bucket and the key prefix. */
export interface S3Location {
  /** `https://host[:port]` (no trailing slash). */
  readonly endpoint: string
  readonly bucket: string
  /** Key prefix of the repository inside the bucket, without leading or trailing `/` ('' at the bucket's root). */
  readonly prefix: string
}

/**
 * restic's own reading of an `s3:` URL (restic 0.14 internal/backend/s3/config.go): `s3:http(s)://host[:port]/bucket
 * [/prefix]` takes the scheme from the URL; `s3:host/bucket[/prefix]` (and `s3://…`) is https. Null when it names no
 * bucket, as restic refuses it too.
 */
export function parseS3Url(url: string): S3Location | null {
  if (!url.startsWith('s3:')) {
    return null
  }
  const rest = url.slice('s3:'.length)
  let scheme = 'https'
  let hostAndPath: string
  if (/^https?:\/\//.test(rest)) {
    scheme = rest.startsWith('http:') ? 'http' : 'https'
    hostAndPath = rest.replace(/^https?:\/\//, '')
  } else {
    hostAndPath = rest.replace(/^\/\//, '')
  }
  const slash = hostAndPath.indexOf('/')
  if (slash <= 0) {
    return null
  }
  const host = hostAndPath.slice(0, slash)
  const [bucket = '', ...prefix] = hostAndPath
    .slice(slash + 1)
    .split('/')
    .filter((p) => p !== '' && p !== '.')
  if (bucket === '' || !/^[A-Za-z0-9.\-_]+(:[0-9]+)?$/.test(host)) {
    return null
  }
  return { endpoint: `${scheme}://${host}`, bucket, prefix: prefix.join('/') }
}

export interface S3Credentials {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken?: string
  readonly region: string
}

/**
 * The credentials restic is given: the job's envFile (the agent starts restic with that environment only, so the
 * probe acts with exactly the node's own rights). A string says what is missing. restic's other sources (a shared
 * credentials file, an instance role) are not read here: the probe then proves nothing and says so.
 */
export function s3CredentialsOf(env: Readonly<Record<string, string | undefined>>): S3Credentials | string {
  const accessKeyId = env['AWS_ACCESS_KEY_ID'] ?? ''
  const secretAccessKey = env['AWS_SECRET_ACCESS_KEY'] ?? ''
  if (accessKeyId === '' || secretAccessKey === '') {
    return (
      'repository.envFile sets no AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, which the object-lock probe acts ' +
      'with (restic may be using a shared credentials file or an instance role the probe does not read)'
    )
  }
  const token = env['AWS_SESSION_TOKEN']
  // restic takes the region from AWS_DEFAULT_REGION; S3-compatible servers accept us-east-1 (SigV4's default).
  const region = env['AWS_DEFAULT_REGION'] || env['AWS_REGION'] || 'us-east-1'
  return { accessKeyId, secretAccessKey, region, ...(token ? { sessionToken: token } : {}) }
}

export interface S3Request {
  readonly method: 'GET' | 'HEAD' | 'PUT' | 'DELETE'
  /** Object key inside the bucket; omitted for a bucket subresource. */
  readonly key?: string
  /** Query parameters in order; a subresource such as `object-lock` has the value ''. */
  readonly query?: readonly (readonly [string, string])[]
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: Buffer
}

/**
 * The request's URL and its SigV4 headers, signed at `now` (pure: the time is the caller's clock). AWS hosts get the
 * bucket in the host name (virtual-hosted style, as restic's minio-go does there); other S3-compatible servers get it
 * in the path. `Host` and `Content-Length` are signed but left out of the returned headers: fetch derives both from
 * the URL and the body, to the same values.
 */
export function signS3Request(
  loc: S3Location,
  creds: S3Credentials,
  req: S3Request,
  now: Date,
): { url: string; headers: Record<string, string> } {
  const u = new URL(loc.endpoint)
  const virtual = /(^|\.)amazonaws\.com$/.test(u.hostname) && /^[a-z0-9-]+$/.test(loc.bucket)
  const host = virtual ? `${loc.bucket}.${u.host}` : u.host
  const keyPath = req.key === undefined ? '' : `/${req.key.split('/').map(encodeRfc3986).join('/')}`
  const query = (req.query ?? []).map(([k, v]) => (v === '' ? k : `${k}=${encodeRfc3986(v)}`)).join('&')
  const objectPath = virtual ? keyPath || '/' : `/${encodeRfc3986(loc.bucket)}${keyPath}`
  const path = `${objectPath}${query === '' ? '' : `?${query}`}`
  const body = req.body ?? Buffer.alloc(0)
  const headers: Record<string, string> = {
    ...req.headers,
    'X-Amz-Date': amzDate(now),
    'X-Amz-Content-Sha256': createHash('sha256').update(body).digest('hex'),
  }
  const signed = aws4.sign(
    {
      host,
      path,
      method: req.method,
      service: 's3',
      region: creds.region,
      headers,
      ...(body.length > 0 ? { body } : {}),
    },
    {
      accessKeyId: creds.accessKeyId,
      secretAccessKey: creds.secretAccessKey,
      ...(creds.sessionToken !== undefined ? { sessionToken: creds.sessionToken } : {}),
    },
  )
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(signed.headers ?? {})) {
    if (v !== undefined && !/^(host|content-length)$/i.test(k)) {
      out[k] = String(v)
    }
  }
  return { url: `${u.protocol}//${host}${path}`, headers: out }
}

/** SigV4's basic ISO 8601 time: `20130524T000000Z`. */
function amzDate(now: Date): string {
  return now.toISOString().replace(/[:-]|\.\d{3}/g, '')
}

function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}
