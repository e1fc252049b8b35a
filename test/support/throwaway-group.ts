import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import type { TestContext } from 'node:test'
import { requirePlatform } from './platform.ts'

/**
 * A system group made for one test and removed after it (groupadd / groupdel), for the `group:` file-mode tests.
 * Needs root: elsewhere the test is skipped with the reason, and in CI (which runs platform tests as root) fails.
 */
export function throwawayGroup(t: TestContext): { name: string; gid: number } | undefined {
  // The project's one skip rule: outside CI a skip that prints its reason, in CI a failure.
  if (!requirePlatform(t, { root: true, commands: ['groupadd', 'groupdel'] })) {
    return undefined
  }
  const name = `bk-readers-${process.pid}-${Math.random().toString(36).slice(2, 6)}`
  const add = spawnSync('groupadd', ['--system', name], { encoding: 'utf8' })
  assert.equal(add.status, 0, `groupadd ${name}: ${add.stderr}`)
  t.after(() => void spawnSync('groupdel', [name]))
  const entry = spawnSync('getent', ['group', name], { encoding: 'utf8' }).stdout.split(':')
  return { name, gid: Number(entry[2]) }
}

/** Reads `file` as the user nobody, with `gid` as its one supplementary group or none: can that group read it? */
export function readAsNobody(file: string, gid?: number): { ok: boolean; stderr: string } {
  const groups = gid === undefined ? ['--clear-groups'] : [`--groups=${gid}`]
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', ...groups, '--', 'cat', file], {
    encoding: 'utf8',
  })
  return { ok: r.status === 0, stderr: r.stderr }
}
