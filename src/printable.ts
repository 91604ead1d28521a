/**
 * Text from records (a rack, an FQDN, a condition's message, a key's node
 * name) is written by whoever may write to Chainfire, and a terminal acts on
 * the control characters in it: `\e[2J` clears the screen, `\r\n` starts what
 * looks like a row of its own. Human output (tables, describe, wait's lines,
 * the pretty log format, error messages) shows every such character escaped,
 * the way a JSON string would (`\x1b[2J`, `\r\n`); -o json and -o yaml keep the
 * data as it is.
 */

/** C0 controls, DEL, C1 controls, the line and paragraph separators, and the bidirectional overrides and isolates. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` with every control character escaped (`\n`, `\r`, `\t`, `\xHH`,
 * `\uHHHH`). With `newlines`, a line feed stays one: for text that is
 * several lines on purpose (an error listing one problem per line).
 * Idempotent: its output holds no control character to escape again.
 */
export function printable(text: string, options: { newlines?: boolean } = {}): string {
  return text.replace(CONTROL, (ch) => {
    if (ch === '\n' && options.newlines) return ch;
    const named = NAMED[ch];
    if (named !== undefined) return named;
    const code = ch.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
