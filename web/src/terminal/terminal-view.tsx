import '@xterm/xterm/css/xterm.css'
import { FitAddon } from '@xterm/addon-fit'
import { Terminal } from '@xterm/xterm'
import { useEffect, useRef } from 'preact/hooks'
import { openTerminalConnection } from './terminal-protocol'

export type TerminalState = 'connecting' | 'connected' | 'closed'

const theme = {
  background: '#0b1020',
  foreground: '#e2e8f0',
  cursor: '#a5b4fc',
  selectionBackground: '#334155',
  black: '#1e293b',
  brightBlack: '#64748b',
  red: '#f87171',
  green: '#4ade80',
  yellow: '#facc15',
  blue: '#60a5fa',
  magenta: '#c084fc',
  cyan: '#22d3ee',
  white: '#e2e8f0',
}

const dim = (text: string) => `\x1b[2m${text}\x1b[0m`

/**
 * An xterm.js terminal bound to one WebSocket session. The fit addon sizes it
 * to its box; each size change goes to the gateway as a resize message. A new
 * `url` (or a remount) is a new session.
 */
export function TerminalView(props: { url: string; onState(state: TerminalState): void }) {
  const box = useRef<HTMLDivElement>(null)
  const onState = useRef(props.onState)
  onState.current = props.onState

  useEffect(() => {
    const term = new Terminal({
      cursorBlink: true,
      fontFamily: '"DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace',
      fontSize: 13,
      lineHeight: 1.15,
      scrollback: 5000,
      theme,
    })
    const fit = new FitAddon()
    term.loadAddon(fit)
    term.open(box.current!)
    fit.fit()
    term.write(dim('Connecting…') + '\r\n')
    onState.current('connecting')

    let ended = false
    const connection = openTerminalConnection(props.url, {
      onOpen: () => {
        onState.current('connected')
        term.focus()
      },
      onOutput: (bytes) => term.write(bytes),
      onExit: (exit) => {
        ended = true
        const code = typeof exit.code === 'number' ? ` (exit code ${exit.code})` : ''
        term.write(`\r\n${dim(`[session ended: ${exit.reason || 'the shell exited'}${code}]`)}\r\n`)
      },
      onClose: ({ code, reason, clean }) => {
        onState.current('closed')
        if (!clean && !ended) term.write(`\r\n${dim(`[connection closed${reason ? `: ${reason}` : code === 1006 ? ': the gateway is unreachable or refused the session' : ''}]`)}\r\n`)
      },
    })
    connection.resize(term.cols, term.rows)
    const input = term.onData((data) => connection.sendInput(data))
    const resized = term.onResize(({ cols, rows }) => connection.resize(cols, rows))

    // Refit whenever the box changes size (window resize, sidebar, tab switch).
    let frame = 0
    const observer = new ResizeObserver(() => {
      cancelAnimationFrame(frame)
      frame = requestAnimationFrame(() => {
        if (box.current?.offsetParent) fit.fit()
      })
    })
    observer.observe(box.current!)

    return () => {
      observer.disconnect()
      cancelAnimationFrame(frame)
      input.dispose()
      resized.dispose()
      connection.close()
      term.dispose()
    }
  }, [props.url])

  return <div class="terminal-box" ref={box} data-testid="terminal" />
}
