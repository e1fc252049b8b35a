import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { isBackstopError } from '@backstop/shared'
import { succeeded, type Exec } from '../../src/exec/exec.ts'
import { FixtureExec, RecordingExec } from '../../src/exec/fixture-exec.ts'
import { NodeExec } from '../../src/exec/node-exec.ts'
import { memoryLog } from './memory-log.ts'

/**
 * One contract for every Exec (aedes-persistence's abstract store pattern): NodeExec against real binaries,
 * FixtureExec replaying what NodeExec recorded from those same runs. A behaviour FixtureExec replays
 * differently from the real thing would make parser/job tests lie, so both must pass the same table.
 */
interface Case {
  readonly name: string
  readonly run: (exec: Exec) => Promise<void>
}

const cases: Case[] = [
  {
    name: 'true exits 0',
    run: async (exec) => {
      const r = await exec.run(['true'])
      assert.equal(r.exitCode, 0)
      assert.equal(r.signal, null)
      assert.ok(succeeded(r))
    },
  },
  {
    name: 'false exits 1 and does not throw',
    run: async (exec) => {
      const r = await exec.run(['false'])
      assert.equal(r.exitCode, 1)
      assert.ok(!succeeded(r))
    },
  },
  {
    name: 'stderr and exit code of a failing command',
    run: async (exec) => {
      const r = await exec.run(['sh', '-c', 'echo oops >&2; exit 3'])
      assert.equal(r.exitCode, 3)
      assert.equal(r.stderr, 'oops\n')
    },
  },
  {
    name: 'stdout lines go to the line callback',
    run: async (exec) => {
      const lines: string[] = []
      const r = await exec.run(['printf', 'status: 10%%\nstatus: 55%%\nlast'], { onStdoutLine: (l) => lines.push(l) })
      assert.equal(r.stdout, 'status: 10%\nstatus: 55%\nlast')
      assert.deepEqual(lines, ['status: 10%', 'status: 55%', 'last'])
    },
  },
  {
    name: 'stdin is fed to the command',
    run: async (exec) => {
      const r = await exec.run(['cat'], { stdin: 'hello stdin' })
      assert.equal(r.stdout, 'hello stdin')
    },
  },
  {
    name: 'minimal environment with LANG=C',
    run: async (exec) => {
      const r = await exec.run(['env'], { env: { BACKSTOP_TEST: 'x' } })
      const vars = r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('=')[0])
      assert.deepEqual(vars.sort(), ['BACKSTOP_TEST', 'LANG', 'LC_ALL', 'PATH'])
      assert.match(r.stdout, /^LC_ALL=C$/m)
    },
  },
  {
    name: 'output beyond the cap is dropped and flagged',
    run: async (exec) => {
      const r = await exec.run(['head', '-c', '100000', '/dev/zero'], { maxOutputBytes: 1000 })
      assert.equal(r.stdout.length, 1000)
      assert.equal(r.truncated, true)
      assert.equal(r.exitCode, 0)
    },
  },
  {
    name: 'timeout throws BK_ERR_EXEC_TIMEOUT',
    run: async (exec) => {
      await assert.rejects(exec.run(['sleep', '10'], { timeoutMs: 200 }), (e) =>
        isBackstopError(e, 'BK_ERR_EXEC_TIMEOUT'),
      )
    },
  },
  {
    name: 'missing binary throws BK_ERR_EXEC_SPAWN naming it',
    run: async (exec) => {
      await assert.rejects(
        exec.run(['backstop-no-such-binary', '--x']),
        (e) => isBackstopError(e, 'BK_ERR_EXEC_SPAWN') && e.message.includes('backstop-no-such-binary'),
      )
    },
  },
  {
    name: 'pipeline pipes stdout into the next stdin and counts bytes',
    run: async (exec) => {
      const r = await exec.pipeline([
        ['printf', 'hello pipe'],
        ['tr', 'a-z', 'A-Z'],
      ])
      assert.equal(r.stages.length, 2)
      assert.equal(r.stages[1]?.stdout, 'HELLO PIPE')
      assert.equal(r.bytesPiped, 10)
      assert.ok(r.stages.every(succeeded))
    },
  },
  {
    name: 'pipeline reports a failing stage',
    run: async (exec) => {
      const r = await exec.pipeline([
        ['printf', 'abc'],
        ['sh', '-c', 'cat >/dev/null; echo bad >&2; exit 4'],
      ])
      assert.equal(r.stages[1]?.exitCode, 4)
      assert.equal(r.stages[1]?.stderr, 'bad\n')
      assert.ok(!r.stages.every(succeeded))
    },
  },
]

const recorder = new RecordingExec(new NodeExec({ log: memoryLog().log }))

describe('Exec contract: NodeExec (real processes, recorded)', () => {
  for (const c of cases) {
    it(c.name, () => c.run(recorder))
  }
})

describe('Exec contract: FixtureExec (replaying the recording from a JSON file)', () => {
  for (const c of cases) {
    it(c.name, async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'bk-fixture-'))
      t.after(() => rmSync(dir, { recursive: true, force: true }))
      const file = join(dir, 'contract.json')
      recorder.save(file)
      const exec = FixtureExec.fromFiles([file])
      await c.run(exec)
    })
  }
})
