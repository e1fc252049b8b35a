import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ConfigError } from '@backstop/shared'
import { resolveFileAccess } from '../../src/config/group-input.ts'
import { parseCollectorConfig } from '../../src/config/load.ts'
import { tempDir } from '../support/harness.ts'

/** Issue 12 (file modes): `group:` lets one group read the data directory; configcheck refuses what cannot work. */
describe('collector config: group', () => {
  it('absent: the data directory stays owner-only (0700 / 0600)', () => {
    const cfg = parseCollectorConfig('dataDir: /srv/c\n', 'c.yaml')
    assert.equal(cfg.group, undefined)
    assert.equal(cfg.dataDirAccess, 'owner-only')
  })

  it('an unknown group is refused at its line, with how to fix it', () => {
    assert.throws(
      () => parseCollectorConfig('dataDir: /srv/c\ngroup: bk-no-such-group-here\n', 'c.yaml'),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError)
        assert.match(
          e.message,
          new RegExp(
            'c\\.yaml:2:\\d+: group: no group "bk-no-such-group-here" on this machine \\(\\/etc\\/group\\); ' +
              'create it \\(groupadd bk-no-such-group-here\\), give its numeric id, or remove group:',
          ),
        )
        return true
      },
    )
  })

  it('a numeric gid is taken as is (a group the directory service knows but /etc/group does not list)', () => {
    const cfg = parseCollectorConfig("group: '4242'\n", 'c.yaml')
    assert.deepEqual(cfg.group, { name: '4242', gid: 4242 })
    assert.equal(cfg.dataDirAccess, 'group-read', 'a group implies group-read')
  })

  it('dataDirAccess: owner-only together with a group is a contradiction, reported at dataDirAccess', () => {
    assert.throws(
      () => parseCollectorConfig("dataDirAccess: owner-only\ngroup: '4242'\n", 'c.yaml'),
      /c\.yaml:1:\d+: dataDirAccess: owner-only contradicts group: 4242 .*remove one of the two/,
    )
  })

  it('a value that cannot be a group name is refused with what one looks like', () => {
    assert.throws(
      () => parseCollectorConfig("group: 'backup readers'\n", 'c.yaml'),
      /c\.yaml:1:\d+: group: must be a group name \(letters, digits, _ \. -\) or a numeric gid/,
    )
  })

  it('a name resolves to its gid from the group database', (t) => {
    const file = join(tempDir(t), 'group')
    writeFileSync(file, 'root:x:0:\nbackstop-readers:x:991:monitor,backup\nother:x:5:\n')
    const issues: string[] = []
    const got = resolveFileAccess({ group: 'backstop-readers' }, (_p, m) => issues.push(m), file)
    assert.deepEqual(got, { dataDirAccess: 'group-read', group: { name: 'backstop-readers', gid: 991 } })
    assert.equal(issues.length, 0, issues.join('; '))
    resolveFileAccess({ group: 'backstop' }, (p, m) => issues.push(`${p.join('.')}: ${m}`), file)
    assert.equal(issues.length, 1, 'a prefix of a listed name is not that name')
    assert.match(String(issues[0]), new RegExp(`^group: no group "backstop" on this machine \\(${file}\\)`))
  })
})
