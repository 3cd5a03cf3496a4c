import { useEffect, useRef, useState } from 'preact/hooks'
import { Icon } from './icons'

/** A search field that reports after typing pauses (250 ms), so each keystroke is not a request. */
export function SearchBox(props: { value: string; placeholder: string; onSearch(value: string): void }) {
  const [text, setText] = useState(props.value)
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)
  useEffect(() => setText(props.value), [props.value])
  useEffect(() => () => clearTimeout(timer.current), [])

  function onInput(value: string) {
    setText(value)
    clearTimeout(timer.current)
    timer.current = setTimeout(() => props.onSearch(value.trim()), 250)
  }

  return (
    <label class="search">
      <Icon name="search" size={16} />
      <input type="search" value={text} placeholder={props.placeholder} aria-label={props.placeholder} onInput={(e) => onInput(e.currentTarget.value)} />
    </label>
  )
}
