import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import {
  classifyFailure,
  parseBackupLine,
  parseRepositoryId,
  parseResticVersion,
  parseSnapshots,
} from '../../../src/jobs/restic/parse.ts'

const fixture = (name: string): string =>
  readFileSync(new URL(`../../fixtures/restic/${name}`, import.meta.url), 'utf8')

const v014 = { major: 0, minor: 14, patch: 0 }
const v017 = { major: 0, minor: 17, patch: 1 }

describe('restic parsers over recorded 0.14 output', () => {
  it('reads the version line', () => {
    assert.deepEqual(parseResticVersion(fixture('version-0.14.txt')), v014)
    assert.equal(parseResticVersion('bash: restic: command not found'), null)
  })

  it('turns backup --json status lines into progress and the summary into the new snapshot id', () => {
    const lines = fixture('backup-json-0.14.jsonl').trim().split('\n').map(parseBackupLine)
    assert.deepEqual(lines[0], { type: 'status', percent: 0, bytesDone: 0, totalBytes: 300000 })
    assert.deepEqual(lines[1], { type: 'status', percent: 1, bytesDone: 300003, totalBytes: 300003 })
    assert.deepEqual(lines[2], { type: 'summary', snapshotId: '54941e1b', bytesProcessed: 300003, added: 301057 })
  })

  it('ignores lines it does not know instead of failing (new message types, noise, broken JSON)', () => {
    for (const l of ['', 'not json', '[]', 'null', '{"message_type":"verbose_status","action":"new"}']) {
      assert.deepEqual(parseBackupLine(l), { type: 'other' })
    }
    assert.deepEqual(parseBackupLine('{"message_type":"status","percent_done":"x","seconds_elapsed":3}'), {
      type: 'status',
      percent: 0,
      bytesDone: 0,
      totalBytes: 0,
    })
  })

  it('lists snapshots with full ids and times; entries without them are skipped', () => {
    const snaps = parseSnapshots(fixture('snapshots-json-0.14.json'))
    assert.equal(snaps.length, 2)
    assert.equal(snaps[0]!.id, '54941e1b1b29c607e8faacac5da93fd45df8d132f0acaebfe0731d8af4400f9f')
    assert.equal(snaps[0]!.shortId, '54941e1b')
    assert.equal(snaps[0]!.time.toISOString(), '2026-12-05T08:33:10.576Z')
    assert.deepEqual(snaps[0]!.paths, ['/tmp/rr/data'])
    assert.equal(snaps[0]!.bytes, undefined, '0.14 has no summary in snapshots --json')
    assert.deepEqual(parseSnapshots('[{"id":"short","time":"2026-01-01T00:00:00Z"},{"time":"bad"}]'), [])
    assert.deepEqual(parseSnapshots('oops'), [])
    const withSummary =
      `[{"id":"${'a'.repeat(64)}","time":"2026-01-01T00:00:00Z",` + '"summary":{"total_bytes_processed":5}}]'
    assert.equal(parseSnapshots(withSummary)[0]!.bytes, 5)
  })

  it('reads the repository id from cat config', () => {
    assert.equal(
      parseRepositoryId(fixture('cat-config-0.14.json')),
      '590b19ebd733f1199afa827723c52aa530302a5985b702935529556ce91f77d3',
    )
    assert.equal(parseRepositoryId('{"version":2}'), null)
  })
})

describe('what a failed restic command means', () => {
  const cases: [string, ReturnType<typeof parseResticVersion>, number, string, string, RegExp][] = [
    ['0.14 wrong password (exit 1)', v014, 1, 'wrong-password-0.14.stderr.txt', 'BK_ERR_REPO_PASSWORD', /wrong/],
    ['0.14 exclusive lock (exit 1)', v014, 1, 'locked-exclusive-0.14.stderr.txt', 'BK_ERR_REPO_LOCKED', /PID 16869/],
    ['0.14 connection refused', v014, 1, 'unreachable-0.14.stderr.txt', 'BK_ERR_REPO_UNREACHABLE', /refused/],
    ['0.14 no repository (local)', v014, 1, 'no-repo-0.14.stderr.txt', 'BK_ERR_REPO_NOT_FOUND', /config/],
    ['0.14 no repository (rest)', v014, 1, 'no-repo-rest-0.14.stderr.txt', 'BK_ERR_REPO_NOT_FOUND', /does not/],
    ['0.14 refused delete', v014, 1, 'forget-append-only-0.14.stderr.txt', 'BK_ERR_EXEC_FAILED', /403 Forbidden/],
  ]
  for (const [name, v, exit, file, code, why] of cases) {
    it(name, () => {
      const r = classifyFailure(v, exit, fixture(file))
      assert.equal(r.code, code)
      assert.match(r.why, why)
      assert.doesNotMatch(r.why, /\.go:\d+/, 'never a Go stack frame as the reason')
    })
  }

  it('0.17+ exit codes decide on their own (10 no repository, 11 locked, 12 wrong password); 0.14 ignores them', () => {
    assert.equal(classifyFailure(v017, 12, '').code, 'BK_ERR_REPO_PASSWORD')
    assert.equal(classifyFailure(v017, 11, '').code, 'BK_ERR_REPO_LOCKED')
    assert.equal(classifyFailure(v017, 10, '').code, 'BK_ERR_REPO_NOT_FOUND')
    assert.equal(classifyFailure(v014, 12, 'something else').code, 'BK_ERR_EXEC_FAILED')
    assert.equal(classifyFailure(null, 77, 'Fatal: unknown thing').code, 'BK_ERR_EXEC_FAILED')
    assert.equal(classifyFailure(null, 77, 'Fatal: unknown thing').why, 'Fatal: unknown thing')
  })
})
