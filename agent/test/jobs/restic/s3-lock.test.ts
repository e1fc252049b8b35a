import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { resolveResticJob, type ResticJobInput } from '../../../src/jobs/restic/config.ts'
import { judgeObjectLock, type LockProbeFacts } from '../../../src/jobs/restic/s3-lock-judge.ts'
import { probeObjectLock, type HttpFetch } from '../../../src/jobs/restic/s3-lock-probe.ts'
import { parseErrorCode, parseLockConfiguration } from '../../../src/jobs/restic/s3-lock-xml.ts'
import { parseS3Url, s3CredentialsOf, signS3Request } from '../../../src/jobs/restic/s3-request.ts'

const fx = (p: string): string => readFileSync(new URL(`../../fixtures/s3/${p}`, import.meta.url), 'utf8')
const NOW = new Date('2026-12-06T12:00:00Z')

describe('restic s3: URLs', () => {
  it('reads them as restic 0.14 does (scheme from the URL, https without one, bucket then prefix)', () => {
    const table: [string, ReturnType<typeof parseS3Url>][] = [
      ['s3:http://127.0.0.1:9000/bk/repo', { endpoint: 'http://127.0.0.1:9000', bucket: 'bk', prefix: 'repo' }],
      ['s3:https://s3.amazonaws.com/bk', { endpoint: 'https://s3.amazonaws.com', bucket: 'bk', prefix: '' }],
      ['s3:s3.example:8443/bk/a/b/', { endpoint: 'https://s3.example:8443', bucket: 'bk', prefix: 'a/b' }],
      ['s3://s3.example/bk/p', { endpoint: 'https://s3.example', bucket: 'bk', prefix: 'p' }],
      ['s3:https://s3.example', null],
      ['s3:https://s3.example/', null],
      ['rest:http://nas:8000/', null],
    ]
    for (const [url, want] of table) {
      assert.deepEqual(parseS3Url(url), want, url)
    }
  })

  it('takes the keys restic is given from the envFile, and says what is missing', () => {
    assert.deepEqual(s3CredentialsOf({ AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' }), {
      accessKeyId: 'a',
      secretAccessKey: 'b',
      region: 'us-east-1',
    })
    const full = {
      AWS_ACCESS_KEY_ID: 'a',
      AWS_SECRET_ACCESS_KEY: 'b',
      AWS_SESSION_TOKEN: 't',
      AWS_DEFAULT_REGION: 'eu-west-1',
    }
    assert.deepEqual(s3CredentialsOf(full), {
      accessKeyId: 'a',
      secretAccessKey: 'b',
      sessionToken: 't',
      region: 'eu-west-1',
    })
    assert.match(
      s3CredentialsOf({ AWS_ACCESS_KEY_ID: 'a' }) as string,
      /sets no AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
    )
  })
})

describe('SigV4 signing (aws4)', () => {
  // The examples of "Signature Calculations for the Authorization Header" in the Amazon S3 API Reference (sig-v4
  // header-based auth): the documented key pair, time and signatures.
  const creds = {
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    region: 'us-east-1',
  }
  const loc = { endpoint: 'https://s3.amazonaws.com', bucket: 'examplebucket', prefix: '' }
  const at = new Date('2013-05-24T00:00:00Z')

  it('GET Bucket Lifecycle: the documented signature, virtual-hosted on AWS', () => {
    const s = signS3Request(loc, creds, { method: 'GET', query: [['lifecycle', '']] }, at)
    assert.equal(s.url, 'https://examplebucket.s3.amazonaws.com/?lifecycle')
    assert.equal(
      s.headers['Authorization'],
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
        'SignedHeaders=host;x-amz-content-sha256;x-amz-date, ' +
        'Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543',
    )
  })

  it('GET Bucket (list objects) with a query: the documented signature', () => {
    const s = signS3Request(
      loc,
      creds,
      {
        method: 'GET',
        query: [
          ['max-keys', '2'],
          ['prefix', 'J'],
        ],
      },
      at,
    )
    assert.match(
      s.headers['Authorization'] ?? '',
      /Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7$/,
    )
  })

  it('other S3 servers are addressed path-style; fetch derives Host and Content-Length itself', () => {
    const s = signS3Request(
      { endpoint: 'http://127.0.0.1:9000', bucket: 'bk', prefix: '' },
      creds,
      { method: 'DELETE', key: 'repo/backstop-lock-canary/ab', query: [['versionId', 'v+1']] },
      at,
    )
    assert.equal(s.url, 'http://127.0.0.1:9000/bk/repo/backstop-lock-canary/ab?versionId=v%2B1')
    assert.deepEqual(Object.keys(s.headers).sort(), ['Authorization', 'X-Amz-Content-Sha256', 'X-Amz-Date'])
  })
})

describe('object-lock XML', () => {
  it('GetObjectLockConfiguration: AWS documented syntax and moto recordings', () => {
    assert.deepEqual(parseLockConfiguration(fx('aws-get-object-lock-configuration-governance-1-year.xml')), {
      enabled: true,
      defaultRetention: { mode: 'GOVERNANCE', period: '1 years' },
    })
    assert.deepEqual(parseLockConfiguration(fx('moto-5.2.1-lock-compliance-30-days.xml')), {
      enabled: true,
      defaultRetention: { mode: 'COMPLIANCE', period: '30 days' },
    })
    assert.deepEqual(parseLockConfiguration(fx('moto-5.2.1-lock-enabled-no-rule.xml')), {
      enabled: true,
      defaultRetention: null,
    })
    assert.equal(parseLockConfiguration(fx('moto-5.2.1-no-lock-configuration.404.xml')), null)
    assert.equal(parseLockConfiguration('not xml <'), null)
  })

  it('error codes: AWS documented example and moto recordings', () => {
    assert.equal(parseErrorCode(fx('aws-error-response-example.xml')), 'NoSuchKey')
    assert.equal(parseErrorCode(fx('moto-5.2.1-delete-locked-version.403.xml')), 'AccessDenied')
    assert.equal(parseErrorCode(fx('moto-5.2.1-no-lock-configuration.404.xml')), 'ObjectLockConfigurationNotFoundError')
    assert.equal(parseErrorCode(''), null)
  })
})

describe('judging the object-lock probe', () => {
  const compliance = { enabled: true, defaultRetention: { mode: 'COMPLIANCE' as const, period: '30 days' } }
  const locked: LockProbeFacts = {
    where: 's3:https://s3.example/bk/repo',
    canaryKey: 'repo/backstop-lock-canary/c0',
    config: { state: 'read', value: compliance },
    versionId: 'v1',
    head: { mode: 'COMPLIANCE', retainUntil: '2027-01-05T12:00:00.000Z' },
    deleted: { status: 403, code: 'AccessDenied' },
    bypass: null,
  }
  const governance = { enabled: true, defaultRetention: { mode: 'GOVERNANCE' as const, period: '30 days' } }
  const gov: LockProbeFacts = {
    ...locked,
    config: { state: 'read', value: governance },
    head: { mode: 'GOVERNANCE', retainUntil: '2027-01-05T12:00:00Z' },
  }
  const table: [string, LockProbeFacts, string, RegExp][] = [
    [
      'COMPLIANCE, versioned delete refused',
      locked,
      'object-lock',
      new RegExp(
        String.raw`refused \(403 AccessDenied\) with this node's credentials; ` +
          String.raw`it is locked COMPLIANCE until 2027-01-05T12:00:00.000Z`,
      ),
    ],
    [
      'versioned delete accepted',
      { ...locked, deleted: { status: 204, code: null } },
      'deletable',
      /was accepted \(204\)/,
    ],
    [
      'not versioned, delete accepted',
      { ...locked, versionId: null, deleted: { status: 204, code: null } },
      'deletable',
      /not versioned/,
    ],
    [
      'not versioned, delete refused',
      { ...locked, versionId: null },
      'unknown',
      /not versioned and the DELETE .* answered 403/,
    ],
    [
      'refused but no lock headers',
      { ...locked, head: { mode: null, retainUntil: null } },
      'unknown',
      /carries no x-amz-object-lock-mode/,
    ],
    [
      'refused, HEAD failed',
      { ...locked, head: { error: 'its HEAD answered 403' } },
      'unknown',
      /but its HEAD answered 403/,
    ],
    [
      'retain-until passed',
      { ...locked, head: { mode: 'COMPLIANCE', retainUntil: '2026-12-01T00:00:00Z' } },
      'unknown',
      /is not ahead/,
    ],
    ['no lock configuration', { ...locked, config: { state: 'absent' } }, 'unknown', /declares no default retention/],
    [
      'lock enabled without a rule',
      { ...locked, config: { state: 'read', value: { enabled: true, defaultRetention: null } } },
      'unknown',
      /no default retention/,
    ],
    [
      'configuration unreadable',
      { ...locked, config: { state: 'unreadable', why: '403 AccessDenied' } },
      'unknown',
      /could not be read \(403 AccessDenied\)/,
    ],
    [
      'mode differs from the default',
      { ...locked, head: { mode: 'GOVERNANCE', retainUntil: '2027-01-05T12:00:00Z' } },
      'unknown',
      /is not the bucket's default COMPLIANCE/,
    ],
    [
      'delete answered 500',
      { ...locked, deleted: { status: 500, code: 'InternalError' } },
      'unknown',
      /answered 500 InternalError, which proves nothing/,
    ],
    [
      'GOVERNANCE, bypass refused too',
      { ...gov, bypass: { status: 403, code: 'AccessDenied' } },
      'object-lock',
      /also with x-amz-bypass-governance-retention/,
    ],
    [
      'GOVERNANCE, bypass accepted',
      { ...gov, bypass: { status: 204, code: null } },
      'deletable',
      /with x-amz-bypass-governance-retention it was deleted/,
    ],
    ['GOVERNANCE, bypass not tried', gov, 'unknown', /bypass-governance DELETE was not tried/],
  ]
  for (const [name, facts, state, detail] of table) {
    it(name, () => {
      const r = judgeObjectLock(facts, NOW)
      assert.equal(r.state, state)
      assert.match(r.detail, detail)
      assert.ok(r.detail.startsWith('s3:https://s3.example/bk/repo: '))
      if (r.state === 'object-lock') {
        assert.equal(r.retainUntil, '2027-01-05T12:00:00.000Z', "the canary version's retain-until, normalised")
      } else if (r.state === 'unknown') {
        assert.match(r.detail, /not counted immutable$/)
      }
    })
  }
})

describe('the object-lock probe', () => {
  const input = (url: string): ResticJobInput => ({
    kind: 'restic',
    name: 's3',
    paths: ['/srv'],
    repository: { url },
    password: { file: '/etc/backstop/pw' },
  })
  const cfg = resolveResticJob(input('s3:https://s3.example:8443/bk/repo'), 'UTC')
  const keys = { AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: 'very-secret' }

  it('writes a canary with Content-MD5, HEADs and DELETEs its version id, hides it behind a marker', async () => {
    const seen: { method: string; url: string; headers: Record<string, string> }[] = []
    const answer = (status: number, body = '', headers: Record<string, string> = {}) => ({
      status,
      headers: { get: (n: string) => headers[n.toLowerCase()] ?? null },
      text: async () => body,
    })
    const fake: HttpFetch = async (url, init) => {
      seen.push({ method: init.method, url, headers: init.headers })
      switch (seen.length) {
        case 1:
          return answer(200, fx('moto-5.2.1-lock-compliance-30-days.xml'))
        case 2:
          return answer(200, '', { 'x-amz-version-id': 'ver-1' })
        case 3:
          return answer(200, '', {
            'x-amz-object-lock-mode': 'COMPLIANCE',
            'x-amz-object-lock-retain-until-date': '2027-01-05T12:00:00Z',
          })
        case 4:
          return answer(403, fx('moto-5.2.1-delete-locked-version.403.xml'))
        default:
          return answer(204)
      }
    }
    const r = await probeObjectLock(cfg, keys, NOW, fake)
    assert.equal(r.state, 'object-lock')
    assert.equal(r.state === 'object-lock' ? r.retainUntil : '', '2027-01-05T12:00:00.000Z')
    assert.deepEqual(
      seen.map((s) => s.method),
      ['GET', 'PUT', 'HEAD', 'DELETE', 'DELETE'],
    )
    assert.equal(seen[0]!.url, 'https://s3.example:8443/bk?object-lock')
    const key = /^https:\/\/s3\.example:8443\/bk\/(repo\/backstop-lock-canary\/[0-9a-f]{32})$/.exec(seen[1]!.url)?.[1]
    assert.ok(key, seen[1]!.url)
    assert.match(seen[1]!.headers['Content-MD5'] ?? '', /^[A-Za-z0-9+/]{22}==$/)
    assert.equal(seen[2]!.url, `https://s3.example:8443/bk/${key}?versionId=ver-1`)
    assert.equal(seen[3]!.url, `https://s3.example:8443/bk/${key}?versionId=ver-1`)
    assert.equal(seen[4]!.url, `https://s3.example:8443/bk/${key}`, 'the last DELETE only adds a delete marker')
    for (const s of seen) {
      assert.match(
        s.headers['Authorization'] ?? '',
        /^AWS4-HMAC-SHA256 Credential=AKID\/20261206\/us-east-1\/s3\/aws4_request/,
      )
    }
    assert.doesNotMatch(r.detail, /very-secret/)
  })

  it('no answer, no keys, or a URL it cannot read: unknown, never immutable', async () => {
    const down: HttpFetch = () => Promise.reject(new Error('connect ECONNREFUSED'))
    const noAnswer = await probeObjectLock(cfg, keys, NOW, down)
    assert.equal(noAnswer.state, 'unknown')
    assert.match(noAnswer.detail, /got no answer: connect ECONNREFUSED; not counted immutable$/)
    const noKeys = await probeObjectLock(cfg, {}, NOW, down)
    assert.equal(noKeys.state, 'unknown')
    assert.match(noKeys.detail, /AWS_ACCESS_KEY_ID/)
    const bad = await probeObjectLock(resolveResticJob(input('s3:https://s3.example'), 'UTC'), keys, NOW, down)
    assert.equal(bad.state, 'unknown')
    assert.match(bad.detail, /not an s3:http\(s\):\/\/host\[:port\]\/bucket\[\/prefix\] URL/)
  })
})
