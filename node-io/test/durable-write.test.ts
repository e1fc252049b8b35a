import assert from 'node:assert/strict'
import * as nodeFs from 'node:fs'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import * as nodeFsp from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { after, describe, it } from 'node:test'
import {
  durableTempTarget,
  writeFileDurable,
  writeFileDurableSync,
  type DurableFs,
  type DurableFsSync,
} from '@backstop/node-io'

const root = mkdtempSync(join(tmpdir(), 'node-io-durable-'))
after(() => rmSync(root, { recursive: true, force: true }))

let n = 0
function freshDir(): string {
  const dir = join(root, `d${n++}`)
  nodeFs.mkdirSync(dir)
  return dir
}

/** Names a path for the trace: the target, its directory, or the temp file. */
function label(p: string, target: string): string {
  if (p === target) {
    return 'target'
  }
  if (p === join(target, '..')) {
    return 'dir'
  }
  return basename(p).endsWith('.tmp') ? 'tmp' : p
}

/** Real node:fs/promises, with every call the helper makes appended to `trace`. */
function recordingFs(target: string, trace: string[]): DurableFs {
  return {
    open: (async (p: string, flags: string, mode?: number) => {
      const fh = await nodeFsp.open(p, flags, mode)
      const what = label(p, target)
      trace.push(`open ${what}`)
      return new Proxy(fh, {
        get(t, key, recv) {
          const v = Reflect.get(t, key, recv)
          if (typeof v !== 'function' || typeof key !== 'string') {
            return v
          }
          return (...args: unknown[]) => {
            trace.push(`${key} ${what}`)
            return (v as (...a: unknown[]) => unknown).apply(t, args)
          }
        },
      })
    }) as DurableFs['open'],
    rename: async (from, to) => {
      trace.push(`rename ${label(String(from), target)}->${label(String(to), target)}`)
      await nodeFsp.rename(from, to)
    },
    link: async (from, to) => {
      trace.push(`link ${label(String(from), target)}->${label(String(to), target)}`)
      await nodeFsp.link(from, to)
    },
    unlink: async (p) => {
      trace.push(`unlink ${label(String(p), target)}`)
      await nodeFsp.unlink(p)
    },
  }
}

function recordingFsSync(target: string, trace: string[]): DurableFsSync {
  const names = new Map<number, string>()
  const onFd = (op: string, fd: number): void => void trace.push(`${op} ${names.get(fd)}`)
  return {
    openSync: ((p: string, flags: string, mode?: number) => {
      const fd = nodeFs.openSync(p, flags, mode)
      names.set(fd, label(p, target))
      trace.push(`open ${label(p, target)}`)
      return fd
    }) as DurableFsSync['openSync'],
    fchmodSync: (fd, mode) => (onFd('chmod', fd), nodeFs.fchmodSync(fd, mode)),
    writeFileSync: ((fd: number, data: string) => (onFd('writeFile', fd), nodeFs.writeFileSync(fd, data))) as never,
    fsyncSync: (fd) => (onFd('sync', fd), nodeFs.fsyncSync(fd)),
    closeSync: (fd) => (onFd('close', fd), nodeFs.closeSync(fd)),
    renameSync: (from, to) => {
      trace.push(`rename ${label(String(from), target)}->${label(String(to), target)}`)
      nodeFs.renameSync(from, to)
    },
    linkSync: (from, to) => {
      trace.push(`link ${label(String(from), target)}->${label(String(to), target)}`)
      nodeFs.linkSync(from, to)
    },
    unlinkSync: (p) => (trace.push(`unlink ${label(String(p), target)}`), nodeFs.unlinkSync(p)),
  }
}

// Power-loss safety is this order: data and mode on the temp file, its fsync, the rename, then the directory fsync.
const DURABLE_ORDER = [
  'open tmp',
  'chmod tmp',
  'writeFile tmp',
  'sync tmp',
  'close tmp',
  'rename tmp->target',
  'open dir',
  'sync dir',
  'close dir',
]

interface Call {
  readonly mode?: number
  readonly exclusive?: boolean
  readonly trace?: string[]
}

const variants = [
  {
    name: 'writeFileDurable',
    write: (p: string, data: string, c: Call = {}) =>
      writeFileDurable(p, data, { ...c, ...(c.trace ? { fs: recordingFs(p, c.trace) } : {}) }),
  },
  {
    name: 'writeFileDurableSync',
    write: async (p: string, data: string, c: Call = {}) =>
      writeFileDurableSync(p, data, { ...c, ...(c.trace ? { fs: recordingFsSync(p, c.trace) } : {}) }),
  },
]

for (const v of variants) {
  describe(v.name, () => {
    it('fsyncs the data before the rename and the directory after it', async () => {
      const target = join(freshDir(), 'state.json')
      const trace: string[] = []
      await v.write(target, '{"a":1}', { trace })
      assert.deepEqual(trace, DURABLE_ORDER)
      assert.equal(readFileSync(target, 'utf8'), '{"a":1}')
    })

    it('replaces an existing file and leaves no temp file behind', async () => {
      const dir = freshDir()
      const target = join(dir, 'state.json')
      writeFileSync(target, 'old content that is longer than the new one')
      await v.write(target, 'new')
      assert.equal(readFileSync(target, 'utf8'), 'new')
      assert.deepEqual(readdirSync(dir), ['state.json'])
    })

    it('sets the mode exactly, whatever the umask: 0600 by default, or the one asked for', async () => {
      const dir = freshDir()
      const old = process.umask(0o077)
      try {
        await v.write(join(dir, 'secret'), 's')
        await v.write(join(dir, 'shared'), 's', { mode: 0o644 })
      } finally {
        process.umask(old)
      }
      assert.equal(statSync(join(dir, 'secret')).mode & 0o777, 0o600)
      assert.equal(statSync(join(dir, 'shared')).mode & 0o777, 0o644)
    })

    it('removes its temp file and keeps the old content when the rename fails', async () => {
      const dir = freshDir()
      const target = join(dir, 'occupied')
      nodeFs.mkdirSync(target)
      writeFileSync(join(target, 'inside'), 'x')
      // rename(2) of a file onto a non-empty directory fails (EISDIR), after the temp file was written.
      await assert.rejects(v.write(target, 'new'), /EISDIR|ENOTEMPTY|EEXIST/)
      assert.deepEqual(readdirSync(dir), ['occupied'])
      assert.deepEqual(readdirSync(target), ['inside'])
    })

    it('exclusive: links the synced temp file to an absent name, in the same durable order', async () => {
      const target = join(freshDir(), 'node.json')
      const trace: string[] = []
      await v.write(target, 'key', { exclusive: true, trace })
      const rename = DURABLE_ORDER.indexOf('rename tmp->target')
      assert.deepEqual(trace, [
        ...DURABLE_ORDER.slice(0, rename),
        'link tmp->target',
        'unlink tmp',
        ...DURABLE_ORDER.slice(rename + 1),
      ])
      assert.equal(readFileSync(target, 'utf8'), 'key')
    })

    it('exclusive: refuses an existing file with EEXIST, keeps it, and leaves no temp file', async () => {
      const dir = freshDir()
      const target = join(dir, 'node.json')
      writeFileSync(target, 'first key')
      await assert.rejects(v.write(target, 'second key', { exclusive: true }), { code: 'EEXIST' })
      assert.equal(readFileSync(target, 'utf8'), 'first key')
      assert.deepEqual(readdirSync(dir), ['node.json'])
    })

    it('fails with the cause when the directory does not exist', async () => {
      await assert.rejects(v.write(join(root, 'missing-dir', 'f'), 'x'), { code: 'ENOENT' })
    })
  })
}

describe('durableTempTarget', () => {
  it('names the target of a temp file a crashed write left, and nothing for other names', () => {
    const cases: Array<[string, string | undefined]> = [
      ['.state.json.0123456789ab.tmp', 'state.json'],
      ['.etc-20261122T010000Z.tar.gz.sha256.a1b2c3d4e5f6.tmp', 'etc-20261122T010000Z.tar.gz.sha256'],
      ['state.json', undefined],
      ['.state.json.tmp', undefined],
      ['.state.json.0123456789AB.tmp', undefined],
      ['.etc.tar.gz.partial', undefined],
    ]
    for (const [name, target] of cases) {
      assert.equal(durableTempTarget(name), target, name)
    }
  })

  it('recognises the temp names writeFileDurableSync makes', () => {
    const dir = freshDir()
    const seen: string[] = []
    const fs: DurableFsSync = { ...nodeFs, renameSync: (from) => void seen.push(basename(String(from))) }
    writeFileDurableSync(join(dir, 'x.json'), '{}', { fs })
    assert.equal(seen.length, 1)
    assert.equal(durableTempTarget(seen[0]!), 'x.json')
  })
})
