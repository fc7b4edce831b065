// `shoal sim [scenario.json] [--peers N] [--duration 60s] [--seed 42] [--workers 2] [--transport tcp|memory] [--report out/]`:
// runs a scenario, prints a live status line and a summary table, writes the report.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { plan, ScenarioError, type Overrides, type SimTransport } from './scenario.js'
import { runScenario } from './runner.js'
import { measure, type SimResult } from './measure.js'
import { writeReport, type ReportFiles } from './report.js'
import { formatSummary } from './summary.js'
import { UsageError } from '../src/cli/args.js'

export const DEFAULT_SCENARIO = fileURLToPath(new URL('../../sim/scenarios/default.json', import.meta.url))

export const SIM_USAGE = `shoal sim [scenario.json] [options]   simulate a mesh of real nodes with faults, write a report
  --peers N        peers (overrides the scenario)
  --duration T     run length after the mesh formed, e.g. 60s, 2m (overrides the scenario)
  --seed S         seed for every random choice (overrides the scenario)
  --workers W      processes sharing the peers no signal fault hits (default 2)
  --degree D       connections per node: a number (partial mesh), full, or auto (default:
                   full mesh up to 64 peers, degree 8 beyond)
  --transport T    tcp (default: worker processes on TCP loopback) or memory (every peer in one
                   process on the memory transport; no slow fault)
  --report DIR     where report.json, report.html and events.ndjson go (default out/sim)
  --quiet          no live status line
  Without a scenario file it runs sim/scenarios/default.json (30 peers, about a minute).`

export interface SimulateOptions {
  /** Where report.json/report.html go; null writes nothing. */
  report?: string | null
  status?: (line: string) => void
  statusEveryMs?: number
  log?: (line: string) => void
  /** Aborts the run: its processes are killed and simulate rejects (tests use a deadline). */
  signal?: AbortSignal
}

/** Plans, runs and measures a scenario (a parsed JSON object), and writes its report. */
export async function simulate (scenario: unknown, overrides: Overrides = {}, opts: SimulateOptions = {}): Promise<{ result: SimResult, files: ReportFiles | null }> {
  const p = plan(scenario, overrides)
  const rec = await runScenario(p, { status: opts.status, statusEveryMs: opts.statusEveryMs, log: opts.log, signal: opts.signal })
  const result = measure(p, rec)
  const files = opts.report == null ? null : await writeReport(opts.report, result, rec)
  return { result, files }
}

/** The CLI command; resolves with the process exit code. */
export async function sim (args: string[], out: (line: string) => void): Promise<number> {
  let values: Record<string, string | boolean | undefined>
  let positionals: string[]
  try {
    ({ values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        peers: { type: 'string' },
        duration: { type: 'string' },
        seed: { type: 'string' },
        workers: { type: 'string' },
        degree: { type: 'string' },
        transport: { type: 'string' },
        report: { type: 'string', default: 'out/sim' },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false }
      }
    }))
  } catch (err: any) {
    throw new UsageError(err.message)
  }
  if (values.help === true) { out(SIM_USAGE); return 0 }
  if (positionals.length > 1) throw new UsageError('sim takes at most one scenario file')
  const int = (name: string): number | undefined => {
    const v = values[name]
    if (v === undefined) return undefined
    const n = Number(v)
    if (typeof v !== 'string' || !Number.isInteger(n)) throw new UsageError(`--${name} must be an integer, not "${String(v)}"`)
    return n
  }
  const degreeArg = (v: unknown): number | 'full' | 'auto' | undefined => v === 'full' || v === 'auto' || v === undefined ? v : int('degree')
  const file = positionals[0] ?? DEFAULT_SCENARIO
  let scenario: unknown
  try {
    scenario = JSON.parse(await readFile(file, 'utf8'))
  } catch (err: any) {
    throw new ScenarioError(`${file}: ${err.message}`)
  }
  const tty = process.stderr.isTTY && values.quiet !== true
  let width = 0
  const status = values.quiet === true
    ? undefined
    : (line: string) => {
        if (tty) { process.stderr.write('\r' + line.padEnd(width)); width = line.length } else process.stderr.write(line + '\n')
      }
  const log = (line: string): void => {
    if (tty && width > 0) { process.stderr.write('\r' + ' '.repeat(width) + '\r'); width = 0 }
    process.stderr.write(line + '\n')
  }
  const { result, files } = await simulate(scenario, {
    peers: int('peers'), seed: int('seed'), workers: int('workers'), duration: values.duration as string | undefined, degree: degreeArg(values.degree),
    transport: values.transport as SimTransport | undefined
  }, { report: values.report as string, status, statusEveryMs: tty ? 1000 : 5000, log })
  if (tty) process.stderr.write('\n')
  out(formatSummary(result))
  if (files != null) out(`report: ${files.html} (and ${files.json})`)
  return result.ok ? 0 : 1
}
