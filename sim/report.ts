// The simulator's report: report.json (the whole result) and report.html, one self-contained page
// (no script, no network) whose plots are Vega-Lite specs rendered to SVG here, in Node.
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import type { SimResult } from './measure.js'
import type { Recording } from './recording.js'
import { summaryRows } from './summary.js'

export interface ReportFiles { json: string, html: string }

export async function writeReport (dir: string, result: SimResult, rec?: Recording): Promise<ReportFiles> {
  await mkdir(dir, { recursive: true })
  const json = join(dir, 'report.json')
  const html = join(dir, 'report.html')
  await writeFile(json, JSON.stringify(result, (_k, v) => typeof v === 'number' && !Number.isFinite(v) ? null : v, 2) + '\n')
  await writeFile(html, await renderHtml(result))
  if (rec != null) await writeFile(join(dir, 'events.ndjson'), eventLines(rec))
  return { json, html }
}

/**
 * Every presence event every node emitted, one JSON array a line, in time order:
 * [seconds since the run started, observer, event, peer, reason?]. The report counts them; this is
 * what to read when a count looks wrong (who suspected whom, just before what).
 */
function eventLines (rec: Recording): string {
  const t0 = rec.runStart
  return [...rec.events].sort((a, b) => a.at - b.at)
    .map(e => JSON.stringify([Math.round(e.at - t0) / 1000, e.o, e.event, e.p, ...(e.reason != null ? [e.reason] : [])]))
    .join('\n') + '\n'
}

/** Renders one Vega-Lite spec to an SVG string. */
export async function toSvg (spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}

const WIDTH = 760

/** Fault markers for a time axis (seconds into the run): a rule and a label each. */
function markers (r: SimResult): any[] {
  const values = r.scenario.timeline.filter(t => t.type !== 'slow' || t.detail !== '0 ms/msg').map(t => ({ t: t.at, label: `${t.type}${t.peer != null ? ` ${t.peer}` : ''}` }))
  if (values.length === 0) return []
  return [
    { data: { values }, mark: { type: 'rule', color: '#c0392b', strokeDash: [4, 3] }, encoding: { x: { field: 't', type: 'quantitative' } } },
    { data: { values }, mark: { type: 'text', angle: 270, align: 'left', baseline: 'bottom', dy: -2, fontSize: 9, color: '#c0392b', y: 0 }, encoding: { x: { field: 't', type: 'quantitative' }, text: { field: 'label' } } }
  ]
}

export function specs (r: SimResult): Record<string, TopLevelSpec> {
  const membership = r.series.membership.flatMap(m => [{ t: m.t, views: m.seen, series: 'held' }, { t: m.t, views: m.truth, series: 'true' }])
  return {
    membership: {
      title: 'Membership: "A sees B" views over time (0 s = run start, after formation)',
      width: WIDTH,
      height: 220,
      layer: [
        { data: { values: membership }, mark: { type: 'line', interpolate: 'step-after' }, encoding: { x: { field: 't', type: 'quantitative', title: 'seconds' }, y: { field: 'views', type: 'quantitative' }, color: { field: 'series', type: 'nominal', title: null }, strokeDash: { field: 'series', type: 'nominal' } } },
        ...markers(r)
      ]
    } as TopLevelSpec,
    latency: {
      title: 'Latency distribution (one way, send to receipt): share of receipts within x ms',
      width: WIDTH,
      height: 220,
      data: { values: r.series.latencies.map(l => ({ ...l, ms: Math.max(0.1, l.ms) })) },
      transform: [
        { window: [{ op: 'cume_dist', as: 'share' }], sort: [{ field: 'ms' }], groupby: ['kind'] }
      ],
      mark: { type: 'line', interpolate: 'step-after' },
      encoding: {
        x: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'ms (log scale)' },
        y: { field: 'share', type: 'quantitative', axis: { format: '%' } },
        color: { field: 'kind', type: 'nominal' }
      }
    } as TopLevelSpec,
    delivery: {
      title: 'Shout delivery ratio per second of sending (receipts no fault excuses)',
      width: WIDTH,
      height: 160,
      layer: [
        { data: { values: r.series.delivery.map(d => ({ ...d, t1: d.t + 0.9 })) }, mark: { type: 'rect', color: '#2e86c1' }, encoding: { x: { field: 't', type: 'quantitative', title: 'seconds' }, x2: { field: 't1' }, y: { field: 'ratio', type: 'quantitative', scale: { domain: [0, 1] }, axis: { format: '%' } }, y2: { datum: 0 } } },
        ...markers(r)
      ]
    } as TopLevelSpec,
    traffic: {
      title: 'Traffic per node over the whole run',
      width: WIDTH,
      height: 160,
      data: { values: r.traffic.flatMap(t => [{ peer: t.peer, what: 'presence KB sent', value: t.presenceBytes / 1024 }, { peer: t.peer, what: 'shouts received', value: t.shoutsReceived }]) },
      mark: 'bar',
      encoding: {
        x: { field: 'peer', type: 'ordinal', axis: { labelOverlap: true } },
        y: { field: 'value', type: 'quantitative', title: null },
        row: { field: 'what', type: 'nominal', title: null },
        color: { field: 'what', type: 'nominal', legend: null }
      },
      resolve: { scale: { y: 'independent' } }
    } as TopLevelSpec
  }
}

const esc = (s: string): string => s.replace(/[&<>"]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string)

export async function renderHtml (r: SimResult): Promise<string> {
  const svgs: string[] = []
  for (const [name, spec] of Object.entries(specs(r))) svgs.push(`<figure id="plot-${name}">${await toSvg(spec)}</figure>`)
  const rows = summaryRows(r).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('\n')
  const timeline = r.scenario.timeline.map(t => `<li>${t.at.toFixed(1)} s: ${esc(t.type)}${t.peer != null ? ` peer-${t.peer}` : ''}${t.detail != null ? ` (${esc(t.detail)})` : ''}</li>`).join('\n')
  const status = r.ok ? '<p class="ok">Result: OK</p>' : `<p class="bad">Result: PROBLEMS</p><ul>${r.problems.map(p => `<li>${esc(p)}</li>`).join('')}</ul>`
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shoal simulation: ${esc(r.scenario.name)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222 }
table { border-collapse: collapse } th, td { text-align: left; padding: 2px 10px; border-bottom: 1px solid #eee; vertical-align: top }
th { font-weight: normal; color: #555 } .ok { color: #1e8449; font-weight: bold } .bad { color: #c0392b; font-weight: bold }
figure { margin: 1.5em 0 }
</style></head><body>
<h1>Shoal simulation: ${esc(r.scenario.name)}</h1>
<p>${r.scenario.peers} real Shoal nodes on TCP loopback in ${r.resources.processes} processes, ${r.scenario.durationS} s run, seed ${r.scenario.seed}, presence profile ${esc(r.scenario.profile)}; ${esc(r.env.node)} ${esc(r.env.platform)}, ${esc(r.env.date)}.</p>
${status}
<h2>Summary</h2>
<table>${rows}</table>
<h2>Timeline</h2>
<ul>${timeline}</ul>
<h2>Plots</h2>
${svgs.join('\n')}
</body></html>
`
}
