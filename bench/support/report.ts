import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'

/** One line describing the machine a benchmark ran on (docs/benchmarks.md wants date, machine, command). */
export function machineLine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown cpu'
  let kernel = ''
  try {
    kernel = execFileSync('uname', ['-sr'], { encoding: 'utf8' }).trim()
  } catch {
    // uname missing: the line still names CPU, memory and Node
  }
  return (
    `${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ` +
    `${kernel}, Node ${process.versions.node}`
  )
}

/**
 * Replaces the section between `<!-- bench:<id> -->` and `<!-- /bench:<id> -->` in docs/benchmarks.md (appends it
 * when missing), so each benchmark owns its section and re-running it updates the figures in place.
 */
export function writeBenchSection(id: string, markdown: string): void {
  const file = new URL('../../docs/benchmarks.md', import.meta.url)
  let doc = ''
  try {
    doc = readFileSync(file, 'utf8')
  } catch {
    doc =
      '# Benchmarks\n\n' +
      'Each benchmark runs with one command, compares Backstop against a peer in the same run, and\n' +
      'rewrites its own section below.\n'
  }
  const open = `<!-- bench:${id} -->`
  const close = `<!-- /bench:${id} -->`
  const block = `${open}\n${markdown.trim()}\n${close}`
  const start = doc.indexOf(open)
  const end = doc.indexOf(close)
  doc =
    start >= 0 && end > start
      ? doc.slice(0, start) + block + doc.slice(end + close.length)
      : `${doc.trimEnd()}\n\n${block}\n`
  writeFileSync(file, doc)
}
