// Markdown for answers, rendered safely. markdown-it (served by Sillok from /ui/vendor/) parses
// the text with raw HTML off; this module walks its tokens and builds DOM nodes with
// createElement and text nodes only, so HTML in an answer stays text. Images are never loaded
// (the `image` option shows their alt text instead); a link survives only when it stays on this
// server; `[n]` and `[1, 2]` markers become the nodes the `citation` option returns.

const MARKER = /\[(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\]/g;
const MAX_NESTING = 20;
const BLOCK_TAGS = new Set([
  'p', 'blockquote', 'ul', 'ol', 'li', 'table', 'thead', 'tbody', 'tr', 'th', 'td',
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6',
]);
const INLINE_TAGS = { strong_open: 'strong', em_open: 'em', s_open: 's' };
const ALIGN = /^text-align:(left|center|right)$/;

let parser = null;
try {
  const { default: markdownit } = await import('../vendor/markdown-it.mjs');
  parser = markdownit('default', { html: false, linkify: false, typographer: false, maxNesting: MAX_NESTING });
  parser.disable(['reference']); // `[1]: url` lines stay text, so markers cannot turn into links
} catch {
  parser = null; // the library is not installed: answers show as plain paragraphs
}

/** Whether the Markdown library loaded (without it, text is shown as plain paragraphs). */
export const markdownAvailable = () => parser !== null;

/**
 * The URL to put in an href, or null when the link must not be followed: only an http(s)
 * link to this origin, returned as a path (so it can never leave this server).
 */
export function safeHref(raw) {
  const value = String(raw ?? '').trim();
  if (!value) return null;
  let url;
  try {
    url = new URL(value, window.location.href);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (url.origin !== window.location.origin) return null;
  return url.pathname + url.search + url.hash;
}

/**
 * Render `text` into a DocumentFragment. Options:
 *   citation(n) -> Node|null   the node for a `[n]` marker (null: keep the marker as text)
 *   image(alt) -> Node|null    what to show instead of an image (nothing is ever loaded)
 *   headingOffset: number      added to heading levels (default 2: `#` becomes h3)
 */
export function renderMarkdown(text, options = {}) {
  const fragment = document.createDocumentFragment();
  const source = String(text ?? '');
  if (!parser) {
    for (const paragraph of source.split(/\n{2,}/)) {
      if (!paragraph.trim()) continue;
      const p = document.createElement('p');
      paragraph.split('\n').forEach((line, index) => {
        if (index) p.append(document.createElement('br'));
        appendText(p, line, options);
      });
      fragment.append(p);
    }
    return fragment;
  }
  renderBlocks(parser.parse(source, {}), fragment, options);
  return fragment;
}

function renderBlocks(tokens, root, options) {
  const stack = [root];
  const top = () => stack[stack.length - 1];
  for (const token of tokens) {
    if (token.nesting === 1) {
      if (token.hidden) { // the paragraphs of a tight list: their text goes into the item
        stack.push(top());
        continue;
      }
      const node = openBlock(token, options);
      top().append(node.outer);
      stack.push(node.inner);
    } else if (token.nesting === -1) {
      if (stack.length > 1) stack.pop();
    } else if (token.type === 'inline') {
      renderInline(token.children || [], top(), options);
    } else if (token.type === 'fence' || token.type === 'code_block') {
      const pre = document.createElement('pre');
      const code = document.createElement('code');
      code.textContent = token.content.replace(/\n$/, '');
      pre.append(code);
      top().append(pre);
    } else if (token.type === 'hr') {
      top().append(document.createElement('hr'));
    } else if (token.content) { // anything else (raw HTML is off, but just in case) as text
      const p = document.createElement('p');
      p.textContent = token.content;
      top().append(p);
    }
  }
}

function openBlock(token, options) {
  let tag = BLOCK_TAGS.has(token.tag) ? token.tag : 'div';
  if (/^h[1-6]$/.test(tag)) tag = `h${Math.min(6, Number(tag[1]) + (options.headingOffset ?? 2))}`;
  const node = document.createElement(tag);
  if (tag === 'ol') {
    const start = Number.parseInt(token.attrGet('start') ?? '1', 10);
    if (Number.isFinite(start) && start !== 1) node.setAttribute('start', String(start));
  }
  if (tag === 'th' || tag === 'td') {
    const align = ALIGN.exec(token.attrGet('style') ?? '');
    if (align) node.className = `align-${align[1]}`; // a class: inline styles are not allowed
  }
  if (tag === 'th') node.setAttribute('scope', 'col');
  if (tag === 'table') { // wide tables scroll inside the answer
    const wrap = document.createElement('div');
    wrap.className = 'table-wrap';
    wrap.append(node);
    return { outer: wrap, inner: node };
  }
  return { outer: node, inner: node };
}

function renderInline(tokens, root, options) {
  const stack = [root];
  let links = 0; // inside a link, markers stay text and no link nests
  const top = () => stack[stack.length - 1];
  for (let i = 0; i < tokens.length; i += 1) {
    const token = tokens[i];
    switch (token.type) {
      case 'text': {
        let content = token.content;
        while (tokens[i + 1]?.type === 'text') content += tokens[++i].content;
        appendText(top(), content, links ? {} : options);
        break;
      }
      case 'softbreak':
      case 'hardbreak':
        top().append(document.createElement('br'));
        break;
      case 'code_inline': {
        const code = document.createElement('code');
        code.textContent = token.content;
        top().append(code);
        break;
      }
      case 'image': {
        const alt = token.children?.length ? plainText(token.children) : token.content;
        const replacement = options.image ? options.image(alt) : null;
        if (replacement) top().append(replacement);
        break;
      }
      case 'link_open': {
        const href = links ? null : safeHref(token.attrGet('href'));
        let node;
        if (href) {
          node = document.createElement('a');
          node.setAttribute('href', href);
          node.setAttribute('rel', 'noopener noreferrer');
        } else {
          node = document.createElement('span');
          node.className = 'md-link-removed';
        }
        top().append(node);
        stack.push(node);
        links += 1;
        break;
      }
      case 'link_close':
        if (links) {
          links -= 1;
          if (stack.length > 1) stack.pop();
        }
        break;
      case 'strong_open':
      case 'em_open':
      case 's_open': {
        const node = document.createElement(INLINE_TAGS[token.type]);
        top().append(node);
        stack.push(node);
        break;
      }
      case 'strong_close':
      case 'em_close':
      case 's_close':
        if (stack.length > 1) stack.pop();
        break;
      default:
        if (token.content) top().append(document.createTextNode(token.content));
    }
  }
}

function plainText(tokens) {
  return tokens.map((token) => (token.children ? plainText(token.children) : token.content || '')).join('');
}

/** Append `text` to `parent`, turning citation markers into `options.citation` nodes. */
function appendText(parent, text, options) {
  if (!options.citation) {
    parent.append(document.createTextNode(text));
    return;
  }
  let at = 0;
  for (const match of text.matchAll(MARKER)) {
    if (match.index > at) parent.append(document.createTextNode(text.slice(at, match.index)));
    for (const n of match[1].split(/\s*[,，、]\s*/).map((value) => Number.parseInt(value, 10))) {
      parent.append(options.citation(n) || document.createTextNode(`[${n}]`));
    }
    at = match.index + match[0].length;
  }
  if (at < text.length) parent.append(document.createTextNode(text.slice(at)));
}
