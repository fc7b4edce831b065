// The simulator's final summary table, shared by the terminal and report.html.
import type { SimResult, DeliveryFigures } from './measure.js'
import { ms, type Distribution } from './stats.js'

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`
const d = (x: Distribution): string => `${ms(x.p50)} / ${ms(x.p90)} / ${ms(x.p99)} / ${ms(x.max)}`

function delivery (x: DeliveryFigures): string {
  const errors = Object.entries(x.errors).map(([k, v]) => `${k} ${v}`).join(', ')
  return `${x.delivered}/${x.expected} = ${pct(x.ratio)}  (excused by faults: ${x.excusedDelivered}/${x.excused} arrived; ${x.sendErrors} send errors${errors === '' ? '' : ` [${errors}]`}, ${x.duplicates} duplicates)`
}

export function summaryRows (r: SimResult): Array<[string, string]> {
  const rows: Array<[string, string]> = [
    ['mesh formed (every node sees every other)', r.formation.converged ? `${ms(r.formation.ms)} ms` : `NOT converged after ${ms(r.formation.ms)} ms`]
  ]
  for (const f of r.faults) {
    const who = f.peer != null ? ` peer-${f.peer}` : ''
    const reasons = Object.entries(f.reasons).map(([k, v]) => `${k} ${v}`).join(', ')
    rows.push([`${f.type}${who} at ${f.atS.toFixed(1)} s: noticed by`, `${f.noticed}/${f.observers}, p50 ${ms(f.noticeP50Ms)} ms, all ${ms(f.noticeAllMs)} ms${reasons === '' ? '' : ` (exits: ${reasons})`}` +
      (f.backAllMs === undefined ? '' : `; back in every view after ${ms(f.backAllMs)} ms`)])
  }
  rows.push(
    ['false positives (suspect / exit, no fault excuses)', `${r.falsePositives.suspects} / ${r.falsePositives.exits}  (during formation: ${r.falsePositives.duringFormation})`],
    [`shout delivery (${r.shouts.sent} shouts)`, delivery(r.shouts)],
    ['shout latency p50 / p90 / p99 / max', `${d(r.shouts.latencyMs)} ms  (with faulted peers: ${d(r.shouts.latencyAllMs)})`],
    [`whisper delivery (${r.whispers.sent} whispers)`, delivery(r.whispers)],
    ['whisper latency p50 / p90 / p99 / max', `${d(r.whispers.latencyMs)} ms  (with faulted peers: ${d(r.whispers.latencyAllMs)})`],
    ...(r.requests.sent === 0
      ? []
      : [[`requests answered (${r.requests.sent} requests)`, delivery(r.requests)], ['request round trip p50 / p90 / p99 / max', `${d(r.requests.latencyMs)} ms  (with faulted peers: ${d(r.requests.latencyAllMs)})`]] as Array<[string, string]>),
    ['presence traffic per node p50 / max', `${(r.perNode.presenceBytesPerSec.p50 / 1024).toFixed(1)} / ${(r.perNode.presenceBytesPerSec.max / 1024).toFixed(1)} KB/s, ${r.perNode.presenceFramesPerSec.p50.toFixed(1)} / ${r.perNode.presenceFramesPerSec.max.toFixed(1)} frames/s`],
    ['memory per peer (peak RSS of all processes / peers)', `${r.resources.rssPerPeerMB.toFixed(2)} MB RSS, ${r.resources.heapPerPeerMB.toFixed(2)} MB heap (peak ${r.resources.peakRssMB.toFixed(0)} MB in ${r.resources.processes} processes)`],
    ['CPU during the run', `${r.resources.cpuPercentAll.toFixed(0)}% of one core in all, ${r.resources.cpuPercentPerPeer.toFixed(2)}% per peer`],
    ['event-loop delay of the shared workers, p50 / p99 / max', r.resources.loopLagMs == null ? '-' : `${ms(r.resources.loopLagMs.p50)} / ${ms(r.resources.loopLagMs.p99)} / ${ms(r.resources.loopLagMs.max)} ms (worst per 2 s sample)`]
  )
  return rows
}

export function formatSummary (r: SimResult): string {
  const rows = summaryRows(r)
  const width = Math.max(...rows.map(([k]) => k.length))
  const link = r.scenario.latency.ms > 0 ? `, links ${r.scenario.latency.ms} ± ${r.scenario.latency.jitter} ms` : ''
  const head = `Shoal sim "${r.scenario.name}": ${r.scenario.peers} peers (${r.scenario.degree === 'full' ? 'full mesh' : `degree ${r.scenario.degree}`}), ${r.scenario.durationS} s, seed ${r.scenario.seed}, ${r.scenario.transport}${link}, ${r.resources.processes} processes`
  const lines = [head, '-'.repeat(head.length), ...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`)]
  if (r.falsePositives.examples.length > 0) lines.push(`false positives, first ones: ${r.falsePositives.examples.join('; ')}`)
  lines.push(r.ok ? 'result: OK' : `result: PROBLEMS\n  - ${r.problems.join('\n  - ')}`)
  return lines.join('\n')
}
