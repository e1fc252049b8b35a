import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

// A process killed at any point of a durable write leaves the old content or the new, never a mix or an empty file.
// (Power loss adds the page cache; durable-write.test.ts checks the fsync order that covers it.)
const writer = fileURLToPath(new URL('./support/crash-writer.ts', import.meta.url))
const root = mkdtempSync(join(tmpdir(), 'node-io-crash-'))
after(() => rmSync(root, { recursive: true, force: true }))

// Large enough that half of it is several pages: a torn file cannot pass for either version by accident.
const OLD = `${'old '.repeat(64 * 1024)}\n`
const NEW = `${'new!'.repeat(96 * 1024)}\n`
// The file-system calls of writeFileDurableSync, in order (durable-write.test.ts pins the same order).
const STEPS = [
  'open tmp',
  'chmod tmp',
  'write tmp',
  'sync tmp',
  'close tmp',
  'rename',
  'open dir',
  'sync dir',
  'close dir',
]
const RENAME = STEPS.indexOf('rename')
const newFile = join(root, 'new-content')
writeFileSync(newFile, NEW)

function runWriter(target: string, at: string): Promise<NodeJS.Signals | null> {
  const child = spawn(process.execPath, ['--import', 'tsx', writer, target, newFile, at], { stdio: 'inherit' })
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('exit', (_code, signal) => resolve(signal))
  })
}

let n = 0
async function crashAt(at: string): Promise<{ content: string; names: string[]; signal: NodeJS.Signals | null }> {
  const dir = join(root, `c${n++}`)
  mkdirSync(dir)
  const target = join(dir, 'state.json')
  writeFileSync(target, OLD)
  const signal = await runWriter(target, at)
  return { content: readFileSync(target, 'utf8'), names: readdirSync(dir), signal }
}

describe('crash consistency of writeFileDurableSync', () => {
  it('control: an in-place write killed half-way leaves a torn file that this check detects', async () => {
    const r = await crashAt('naive')
    assert.equal(r.signal, 'SIGKILL')
    assert.notEqual(r.content, OLD)
    assert.notEqual(r.content, NEW)
  })

  STEPS.forEach((step, i) => {
    const expected = i <= RENAME ? 'old' : 'new'
    it(`killed before "${step}": the file holds the ${expected} content whole`, async () => {
      const r = await crashAt(String(i))
      assert.equal(r.signal, 'SIGKILL', 'the writer must die at that step')
      assert.equal(r.content, i <= RENAME ? OLD : NEW)
      // A leftover temp file ends in .tmp, so the cleaners that look for one recognise it.
      assert.ok(
        r.names.every((name) => name === 'state.json' || name.endsWith('.tmp')),
        r.names.join(', '),
      )
    })
  })

  it('not killed: the new content, and nothing else in the directory', async () => {
    const r = await crashAt(String(STEPS.length + 2))
    assert.equal(r.signal, null)
    assert.equal(r.content, NEW)
    assert.deepEqual(r.names, ['state.json'])
  })
})
