// Markdown for answers, rendered safely: the output is built from DOM nodes and text only, so
// HTML in the text stays text; images are never loaded; a link survives only when it stays on
// this site (or goes to an allow-listed https host); `[n]` markers become citation nodes.

const FENCE = /^\s{0,3}(```|~~~)/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^\s{0,3}>\s?/;
const BULLET = /^\s{0,3}([-*+])\s+(.*)$/;
const ORDERED = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;
const MAX_DEPTH = 6;

const LINK_TAIL = String.raw`\(\s*<?([^()\s<>]*)>?(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)`;
const INLINE = [
  ['code', /`([^`\n]+)`/],
  ['image', new RegExp(String.raw`!\[([^\]\n]*)\]` + LINK_TAIL)],
  ['link', new RegExp(String.raw`\[([^\]\n]+)\]` + LINK_TAIL)],
  ['cite', /\[(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\]/],
  ['strong', /\*\*(?=\S)([^\n]*?\S)\*\*|(?<![\p{L}\p{N}_])__(?=\S)([^\n]*?\S)__(?![\p{L}\p{N}_])/u],
  ['em', /\*(?=[^\s*])([^*\n]*?[^\s*])\*|(?<![\p{L}\p{N}_])_(?=[^\s_])([^_\n]*?[^\s_])_(?![\p{L}\p{N}_])/u],
  ['br', /\n/],
];

/**
 * The URL to put in an href, or null when the link must not be followed: only http(s) links
 * to this origin (returned as a path) or to one of `allowedHosts` over https.
 */
export function safeHref(raw, allowedHosts = []) {
  const value = String(raw ?? '').trim();
  if (!value) return null;
  let url;
  try {
    url = new URL(value, window.location.href);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (url.origin === window.location.origin) return url.pathname + url.search + url.hash;
  if (url.protocol === 'https:' && allowedHosts.map((h) => h.toLowerCase()).includes(url.hostname)) {
    return url.href;
  }
  return null;
}

/**
 * Render `text` into a DocumentFragment. Options:
 *   citation(n) -> Node|null   the node for a `[n]` marker (null: keep the marker as text)
 *   image(alt) -> Node|null    what to show instead of an image (nothing is ever loaded)
 *   allowedHosts: string[]     https hosts links may point to besides this origin
 *   headingOffset: number      added to heading levels (default 2: `#` becomes h3)
 */
export function renderMarkdown(text, options = {}) {
  const fragment = document.createDocumentFragment();
  const lines = String(text ?? '').replace(/\r\n?/g, '\n').split('\n');
  renderBlocks(lines, fragment, options, 0);
  return fragment;
}

function el(tag) {
  return document.createElement(tag);
}

function startsBlock(line) {
  return [FENCE, HEADING, RULE, QUOTE, BULLET, ORDERED].some((pattern) => pattern.test(line));
}

function renderBlocks(lines, parent, options, depth) {
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
      continue;
    }
    let match = line.match(FENCE);
    if (match) {
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(match[1])) body.push(lines[i++]);
      i += 1;
      const pre = el('pre');
      const code = el('code');
      code.textContent = body.join('\n');
      pre.append(code);
      parent.append(pre);
      continue;
    }
    match = line.match(HEADING);
    if (match) {
      const heading = el(`h${Math.min(6, match[1].length + (options.headingOffset ?? 2))}`);
      inline(match[2], heading, options);
      parent.append(heading);
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      parent.append(el('hr'));
      i += 1;
      continue;
    }
    if (QUOTE.test(line)) {
      const body = [];
      while (i < lines.length && QUOTE.test(lines[i])) body.push(lines[i++].replace(QUOTE, ''));
      const quote = el('blockquote');
      if (depth < MAX_DEPTH) renderBlocks(body, quote, options, depth + 1);
      else inline(body.join('\n'), quote, options);
      parent.append(quote);
      continue;
    }
    if (BULLET.test(line) || ORDERED.test(line)) {
      const ordered = !BULLET.test(line);
      const pattern = ordered ? ORDERED : BULLET;
      const list = el(ordered ? 'ol' : 'ul');
      if (ordered) {
        const start = Number.parseInt(line.match(ORDERED)[1], 10);
        if (start !== 1) list.setAttribute('start', String(start));
      }
      while (i < lines.length && (match = lines[i].match(pattern))) {
        const item = [match[2]];
        i += 1;
        while (i < lines.length && lines[i].trim() && !startsBlock(lines[i])) item.push(lines[i++].trim());
        const li = el('li');
        inline(item.join('\n'), li, options);
        list.append(li);
      }
      parent.append(list);
      continue;
    }
    const paragraph = [line];
    i += 1;
    while (i < lines.length && lines[i].trim() && !startsBlock(lines[i])) paragraph.push(lines[i++]);
    const p = el('p');
    inline(paragraph.join('\n'), p, options);
    parent.append(p);
  }
}

function earliest(text) {
  let best = null;
  for (const [kind, pattern] of INLINE) {
    const match = pattern.exec(text);
    if (match && (best === null || match.index < best.match.index)) best = { kind, match };
  }
  return best;
}

function inline(text, parent, options, inLink = false) {
  let rest = text;
  while (rest) {
    const found = earliest(rest);
    if (!found) {
      parent.append(document.createTextNode(rest));
      return;
    }
    const { kind, match } = found;
    if (match.index) parent.append(document.createTextNode(rest.slice(0, match.index)));
    rest = rest.slice(match.index + match[0].length);
    switch (kind) {
      case 'code': {
        const code = el('code');
        code.textContent = match[1];
        parent.append(code);
        break;
      }
      case 'image': {
        const replacement = options.image ? options.image(match[1]) : null;
        if (replacement) parent.append(replacement);
        break;
      }
      case 'link': {
        const href = inLink ? null : safeHref(match[2], options.allowedHosts || []);
        if (href) {
          const a = el('a');
          a.setAttribute('href', href);
          a.setAttribute('rel', 'noopener noreferrer');
          inline(match[1], a, options, true);
          parent.append(a);
        } else {
          const span = el('span');
          span.className = 'md-link-removed';
          inline(match[1], span, options, true);
          parent.append(span);
        }
        break;
      }
      case 'cite': {
        const numbers = match[1].split(/\s*[,，、]\s*/).map((n) => Number.parseInt(n, 10));
        for (const n of numbers) {
          const node = options.citation ? options.citation(n) : null;
          parent.append(node || document.createTextNode(`[${n}]`));
        }
        break;
      }
      case 'strong':
      case 'em': {
        const wrapper = el(kind);
        inline(match[1] ?? match[2] ?? '', wrapper, options, inLink);
        parent.append(wrapper);
        break;
      }
      default:
        parent.append(el('br'));
    }
  }
}
