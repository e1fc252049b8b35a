import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError } from '@backstop/shared'
import { parseAgentConfig } from '../../src/config/load.ts'

const parse = (top: string) =>
  parseAgentConfig(`${top}collector: { url: "mqtt://127.0.0.1:1883" }\njobs: []\n`, 'agent.yaml', {
    hostname: 'pve1',
  })

/** Issue 12 (file modes): `group:` lets one group read copies, manifests and state; an unknown one is refused. */
describe('agent config: group', () => {
  it('absent by default: data files stay owner-only', () => {
    assert.equal(parse('').group, undefined)
  })

  it('an unknown group is refused at its line, with how to fix it', () => {
    assert.throws(
      () => parse('group: bk-no-such-group-here\n'),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError)
        assert.match(
          e.message,
          new RegExp(
            String.raw`agent\.yaml:1:\d+: group: no group "bk-no-such-group-here" on this machine \(\/etc\/group\); ` +
              String.raw`create it \(groupadd bk-no-such-group-here\), give its numeric id, or remove group:`,
          ),
        )
        return true
      },
    )
  })

  it('a group of the group database resolves to its gid; a numeric one is taken as is', () => {
    assert.deepEqual(parse('group: root\n').group, { name: 'root', gid: 0 })
    assert.deepEqual(parse("group: '4242'\n").group, { name: '4242', gid: 4242 })
  })

  it('a value that cannot be a group name is refused', () => {
    assert.throws(() => parse("group: 'backup readers'\n"), /agent\.yaml:1:\d+: group: /)
  })
})
