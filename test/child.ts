import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { ExecutionContext } from 'ava'
import type { NodeOptions } from '../src/index.js'

export const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}.js`, import.meta.url))

export interface Child { proc: ChildProcess, id: string, addresses: string[], lines: unknown[] }

/** Runs a node (fixtures/`name`) in a child process, killed at the end of the test; resolves once it started. */
export async function startChild (t: ExecutionContext, options: NodeOptions, name = 'child-node'): Promise<Child> {
  const proc = spawn(process.execPath, [fixture(name), JSON.stringify(options)], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) { proc.kill('SIGCONT'); proc.kill('SIGKILL') }
  })
  const lines: unknown[] = []
  const rl = createInterface({ input: proc.stdout! })
  return await new Promise((resolve, reject) => {
    proc.once('exit', code => { reject(new Error(`child exited with ${code} before starting`)) })
    rl.on('line', line => {
      const msg = JSON.parse(line)
      if (msg.id != null && lines.length === 0) resolve({ proc, id: msg.id, addresses: msg.addresses, lines })
      lines.push(msg)
    })
  })
}
