/**
 * A small time-series line chart in plain SVG: fixed value scale (0–100 by
 * default), time on x, gridlines, a soft area under the line and a marker on
 * the newest point. Long gaps (the device was offline) break the line rather
 * than drawing a straight bridge across them.
 */

export interface ChartPoint {
  /** Epoch milliseconds. */
  t: number
  v: number
}

const W = 600
const H = 160

/** Splits where the spacing jumps past five times the usual interval. */
function segments(points: ChartPoint[]): ChartPoint[][] {
  if (points.length < 3) return points.length ? [points] : []
  const steps = points.slice(1).map((p, i) => p.t - points[i]!.t).sort((a, b) => a - b)
  const usual = Math.max(steps[Math.floor(steps.length / 2)]!, 1000)
  const out: ChartPoint[][] = [[points[0]!]]
  for (let i = 1; i < points.length; i++) {
    if (points[i]!.t - points[i - 1]!.t > usual * 5) out.push([])
    out[out.length - 1]!.push(points[i]!)
  }
  return out
}

export function LineChart(props: { points: ChartPoint[]; from: number; to: number; max?: number; label: string; unit?: string; tone?: 'indigo' | 'teal' | 'amber' }) {
  const max = props.max ?? 100
  const span = Math.max(props.to - props.from, 1)
  const x = (t: number) => ((t - props.from) / span) * W
  const y = (v: number) => H - (Math.max(0, Math.min(max, v)) / max) * H
  const xy = (p: ChartPoint) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`
  const last = props.points[props.points.length - 1]
  const unit = props.unit ?? '%'
  return (
    <div class={`chart chart-${props.tone ?? 'indigo'}`}>
      <div class="chart-y" aria-hidden="true">
        <span>
          {max}
          {unit}
        </span>
        <span>
          {max / 2}
          {unit}
        </span>
        <span>0{unit}</span>
      </div>
      <div class="chart-plot">
        <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={props.label}>
          {[0.25, 0.5, 0.75].map((f) => (
            <line key={f} class="chart-grid" x1="0" x2={W} y1={H * f} y2={H * f} vector-effect="non-scaling-stroke" />
          ))}
          {segments(props.points).map((seg, i) => (
            <g key={i}>
              {seg.length > 1 && <path class="chart-area" d={`M${x(seg[0]!.t).toFixed(1)},${H} L${seg.map(xy).join(' L')} L${x(seg[seg.length - 1]!.t).toFixed(1)},${H} Z`} />}
              <polyline class="chart-line" points={seg.map(xy).join(' ')} vector-effect="non-scaling-stroke" />
            </g>
          ))}
        </svg>
        {/* HTML, not SVG: a circle would be stretched by the non-uniform scale. */}
        {last && <span class="chart-dot" style={{ left: `${(x(last.t) / W) * 100}%`, top: `${(y(last.v) / H) * 100}%` }} />}
      </div>
    </div>
  )
}
