/**
 * The source text of one member of a top-level JSON object, for numbers JSON.parse would round
 * (spiffe_sequence is a uint64; doubles are exact only to 2^53). A scan of the top level, not a
 * regex: the name may also appear inside strings or nested objects. The text must already have
 * passed JSON.parse, so the scanner may trust its syntax.
 */

const WS = new Set([' ', '\t', '\n', '\r']);

function skipWs(text: string, i: number): number {
  while (i < text.length && WS.has(text[i] ?? '')) i++;
  return i;
}

/** Index just past the string literal opening at `i`. */
function endOfString(text: string, i: number): number {
  let j = i + 1;
  while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
  return j + 1;
}

/** Index just past the value starting at `i`: a string, an object or array (nesting counted), or a literal. */
function endOfValue(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return endOfString(text, i);
  if (c !== '{' && c !== '[') {
    let j = i;
    while (j < text.length && !WS.has(text[j] ?? '') && text[j] !== ',' && text[j] !== '}' && text[j] !== ']') j++;
    return j;
  }
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const d = text[j];
    if (d === '"') j = endOfString(text, j) - 1;
    else if (d === '{' || d === '[') depth++;
    else if ((d === '}' || d === ']') && --depth === 0) return j + 1;
  }
  return text.length;
}

/**
 * The raw text of member `name` of the top-level object, or undefined if absent. With duplicate
 * names the last wins, as in JSON.parse, so the raw text and the parsed value always agree.
 */
export function rawTopLevelMember(text: string, name: string): string | undefined {
  let i = skipWs(text, 0);
  if (text[i] !== '{') return undefined;
  let found: string | undefined;
  for (i = skipWs(text, i + 1); i < text.length && text[i] !== '}'; i = skipWs(text, i)) {
    if (text[i] === ',') i = skipWs(text, i + 1);
    const keyEnd = endOfString(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string; // decodes escapes such as \u005f
    const valueStart = skipWs(text, skipWs(text, keyEnd) + 1); // past the ':'
    const valueEnd = endOfValue(text, valueStart);
    if (key === name) found = text.slice(valueStart, valueEnd);
    i = valueEnd;
  }
  return found;
}
