import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isBackstopError } from '@backstop/shared'
import { NodeExec } from '../../src/exec/node-exec.ts'
import { memoryLog } from './memory-log.ts'

describe('NodeExec', () => {
  it('escalates to SIGKILL when SIGTERM is ignored, killing the whole process group', async () => {
    const exec = new NodeExec({ log: memoryLog().log, killGraceMs: 300 })
    const t0 = Date.now()
    // sh ignores TERM and so does the sleep it starts (ignored dispositions are inherited).
    await assert.rejects(exec.run(['sh', '-c', 'trap "" TERM; sleep 30; echo done'], { timeoutMs: 200 }), (e) =>
      isBackstopError(e, 'BK_ERR_EXEC_TIMEOUT'),
    )
    const took = Date.now() - t0
    assert.ok(took >= 450 && took < 5000, `killed after ${took} ms: TERM at 200, KILL 300 later`)
  })

  it('an abort signal stops the command and rejects with the signal reason', async () => {
    const exec = new NodeExec({ log: memoryLog().log, killGraceMs: 300 })
    const ac = new AbortController()
    const p = exec.run(['sleep', '30'], { signal: ac.signal })
    ac.abort(new Error('agent stopping'))
    await assert.rejects(p, /agent stopping/)
    await assert.rejects(exec.run(['true'], { signal: ac.signal }), /agent stopping/, 'already aborted: never spawned')
  })

  it('a failing stage kills the rest of the pipeline instead of leaving the writer blocked', async () => {
    const exec = new NodeExec({ log: memoryLog().log, killGraceMs: 300 })
    const t0 = Date.now()
    // `yes` would write forever; the reader exits at once with an error.
    const r = await exec.pipeline([['yes'], ['sh', '-c', 'exit 2']], { timeoutMs: 10000 })
    assert.equal(r.stages[1]?.exitCode, 2)
    assert.notEqual(r.stages[0]?.exitCode, 0, 'the writer was stopped')
    assert.ok(Date.now() - t0 < 5000)
  })

  it('a missing binary in a pipeline throws BK_ERR_EXEC_SPAWN and stops the other stages', async () => {
    const exec = new NodeExec({ log: memoryLog().log, killGraceMs: 300 })
    await assert.rejects(
      exec.pipeline([['yes'], ['backstop-missing-reader']], { timeoutMs: 10000 }),
      (e) => isBackstopError(e, 'BK_ERR_EXEC_SPAWN') && /backstop-missing-reader/.test(e.message),
    )
  })

  it('counts large piped streams and delivers lines past the output cap', async () => {
    const exec = new NodeExec({ log: memoryLog().log })
    const r = await exec.pipeline([
      ['head', '-c', '3000000', '/dev/zero'],
      ['wc', '-c'],
    ])
    assert.equal(r.bytesPiped, 3000000)
    assert.equal(r.stages[1]?.stdout.trim(), '3000000')
    let n = 0
    const s = await exec.run(['seq', '1', '5000'], {
      maxOutputBytes: 100,
      onStdoutLine: () => {
        n++
      },
    })
    assert.equal(n, 5000)
    assert.equal(s.truncated, true)
    assert.equal(s.stdout.length, 100)
  })

  it('runs in cwd and logs every call at debug with argv, exit, duration and bytes', async () => {
    const { log, records } = memoryLog()
    const exec = new NodeExec({ log })
    const r = await exec.run(['pwd'], { cwd: '/tmp' })
    assert.equal(r.stdout.trim(), '/tmp')
    const rec = records.find((x) => x['msg'] === 'exec')
    assert.ok(rec)
    assert.deepEqual(rec['argv'], ['pwd'])
    assert.equal(rec['exitCode'], 0)
    assert.equal(typeof rec['durationMs'], 'number')
    assert.equal(rec['stdoutBytes'], 5)
    assert.equal(rec['level'], 20)
  })

  it('reports death by signal as 128+n with the signal name', async () => {
    const exec = new NodeExec({ log: memoryLog().log })
    const r = await exec.run(['sh', '-c', 'kill -9 $$'])
    assert.equal(r.signal, 'SIGKILL')
    assert.equal(r.exitCode, 137)
  })
})
