// Parses a WWW-Authenticate header (RFC 7235) into its challenges:
//   Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"
//   Basic realm="Registry Realm"
// Several challenges may share one header, separated by commas.

export interface Challenge {
  /** Lower-cased scheme, e.g. "bearer" or "basic". */
  readonly scheme: string;
  /** Parameters with lower-cased names. */
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;

export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let rest = header;
  let current: { scheme: string; params: Record<string, string> } | undefined;
  const skip = () => {
    rest = rest.replace(/^[\s,]+/, '');
  };
  skip();
  while (rest !== '') {
    const word = TOKEN.exec(rest)?.[0];
    if (!word) break; // garbage: stop, keep what parsed cleanly
    const after = rest.slice(word.length).replace(/^\s*/, '');
    if (after.startsWith('=') && current) {
      rest = after.slice(1).replace(/^\s*/, '');
      let value: string;
      if (rest.startsWith('"')) {
        let i = 1;
        value = '';
        while (i < rest.length && rest[i] !== '"') {
          if (rest[i] === '\\' && i + 1 < rest.length) i++;
          value += rest[i];
          i++;
        }
        rest = rest.slice(i + 1);
      } else {
        // Unquoted: up to the next comma or space (servers send bare URLs here).
        value = /^[^\s,]*/.exec(rest)![0];
        rest = rest.slice(value.length);
      }
      current.params[word.toLowerCase()] = value;
    } else {
      current = { scheme: word.toLowerCase(), params: {} };
      out.push(current);
      rest = after;
    }
    skip();
  }
  return out;
}
