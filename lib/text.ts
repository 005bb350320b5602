// Making peer-supplied text safe to print: no terminal escapes, no newlines
// that could forge output lines.

export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`).replace(/\n/g, '\\n');
}

/** A path as shown to the user: control characters and newlines escaped. */
export function showPath(p: string): string {
  return printable(p).replace(/\t/g, '\\t');
}
