import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FixtureExec, UnexpectedCommandError } from '../../src/exec/fixture-exec.ts'

describe('FixtureExec', () => {
  it('fails loudly on an argv nobody recorded, listing what was recorded', async () => {
    const exec = new FixtureExec([{ argv: ['zfs', 'list', '-H'], stdout: 'tank\n' }])
    await assert.rejects(
      exec.run(['zfs', 'list', '-Hp']),
      (e) => e instanceof UnexpectedCommandError && e.message.includes('["zfs","list","-H"]'),
    )
  })

  it('uses each fixture once unless it repeats', async () => {
    const exec = new FixtureExec([
      { argv: ['a'], stdout: '1' },
      { argv: ['b'], stdout: '2', repeat: true },
    ])
    assert.equal((await exec.run(['a'])).stdout, '1')
    await assert.rejects(exec.run(['a']), UnexpectedCommandError)
    assert.equal((await exec.run(['b'])).stdout, '2')
    assert.equal((await exec.run(['b'])).stdout, '2')
    exec.assertAllUsed()
    assert.deepEqual(exec.calls, [['a'], ['a'], ['b'], ['b']])
  })

  it('ordered mode rejects the right command at the wrong time', async () => {
    const exec = new FixtureExec([{ argv: ['first'] }, { argv: ['second'] }], { ordered: true })
    await assert.rejects(exec.run(['second']), UnexpectedCommandError)
    await exec.run(['first'])
    await exec.run(['second'])
    exec.assertAllUsed()
  })

  it('assertAllUsed names recorded commands that never ran', () => {
    const exec = new FixtureExec([{ argv: ['zfs', 'destroy', 'tank@x'] }])
    assert.throws(() => exec.assertAllUsed(), /zfs","destroy","tank@x/)
  })
})
