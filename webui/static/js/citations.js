// The citation side panel: the cited passage with the quoted part highlighted, the document's
// title, page and version date, a link to the original (the ACL-checked content route) and
// why the reader may see it.

import { api, ApiError, enc } from './api.js';
import { $, h, icon, replace } from './dom.js';
import { formatDateTime, onLanguageChange, t } from './i18n.js';

const MARKER = /\[\d{1,3}(?:\s*[,，、]\s*\d{1,3})*\]/g;
let opened = null; // {citation, answer, trigger, doc, why, docError}
let generation = 0;

function citesN(sentence, n) {
  for (const marker of sentence.match(MARKER) || []) {
    if (marker.slice(1, -1).split(/\s*[,，、]\s*/).map(Number).includes(n)) return true;
  }
  return false;
}

/**
 * The sentences of `answer` that cite source `n`, without markers and Markdown punctuation.
 * A sentence without a marker belongs to the next marker in its line ("A. B. [1]" cites both).
 */
export function citedSentences(answer, n) {
  const cited = [];
  for (const line of String(answer || '').split(/\n+/)) {
    let pending = [];
    for (const piece of line.split(/(?<=[.!?。！？])\s+(?=[^\s[])/)) {
      pending.push(piece);
      if (!MARKER.test(piece)) continue;
      MARKER.lastIndex = 0;
      if (citesN(piece, n)) cited.push(...pending);
      pending = [];
    }
  }
  return cited
    .map((piece) => piece.replace(MARKER, '').replace(/^\s*(?:>\s*)+/, '').replace(/[*_`]/g, ''))
    .map((piece) => piece.replace(/\s+/g, ' ').trim())
    .filter((piece) => piece.length >= 6);
}

function findRange(text, needle) {
  const candidates = [needle, needle.replace(/[.!?。…\s]+$/, ''), needle.slice(0, 80), needle.slice(-80)];
  for (const candidate of candidates) {
    if (candidate.length < 6) continue;
    const start = text.indexOf(candidate);
    if (start >= 0) return [start, start + candidate.length];
  }
  return null;
}

const squash = (text) => text.replace(/\s+/g, ' ');

/**
 * The passage as nodes with `span` ([start, end) in characters of the passage, as the server
 * counts them) in <mark>, or null when the span is missing or outside the passage.
 */
export function highlightSpan(snippet, span) {
  if (!Array.isArray(span) || span.length !== 2) return null;
  const chars = Array.from(String(snippet || '')); // code points, like the server's offsets
  const start = Math.max(0, Math.trunc(Number(span[0])));
  const end = Math.min(chars.length, Math.trunc(Number(span[1])));
  if (!Number.isFinite(start) || !Number.isFinite(end) || end <= start) return null;
  const before = squash(chars.slice(0, start).join('')).trimStart();
  const marked = squash(chars.slice(start, end).join(''));
  const after = squash(chars.slice(end).join('')).trimEnd();
  if (!marked.trim()) return null;
  const fragment = document.createDocumentFragment();
  if (before) fragment.append(before);
  fragment.append(h('mark', { class: 'span-mark' }, marked));
  if (after) fragment.append(after);
  return fragment;
}

/**
 * The passage as nodes, with the part that supports the answer in <mark>: the citation's
 * `span` when the server gives one, otherwise the parts the answer quotes; when none of the
 * answer's sentences can be found in it, the whole passage is marked.
 */
export function highlightPassage(snippet, answer, n, span = null) {
  const exact = highlightSpan(snippet, span);
  if (exact) return exact;
  const text = squash(String(snippet || '')).trim();
  const ranges = citedSentences(answer, n)
    .map((sentence) => findRange(text, sentence))
    .filter(Boolean)
    .sort((a, b) => a[0] - b[0]);
  const merged = [];
  for (const range of ranges) {
    const last = merged[merged.length - 1];
    if (last && range[0] <= last[1]) last[1] = Math.max(last[1], range[1]);
    else merged.push([...range]);
  }
  const fragment = document.createDocumentFragment();
  if (!merged.length) {
    fragment.append(h('mark', {}, text));
    return fragment;
  }
  let at = 0;
  for (const [start, end] of merged) {
    if (start > at) fragment.append(text.slice(at, start));
    fragment.append(h('mark', {}, text.slice(start, end)));
    at = end;
  }
  if (at < text.length) fragment.append(text.slice(at));
  return fragment;
}

function whyItems(why) {
  const items = [];
  for (const match of why?.matches || []) {
    const entry = String(match.entry || '');
    if (entry === 'public') items.push(t('cite.whyPublic'));
    else if (entry.startsWith('users:')) items.push(t('cite.whyUser'));
    else if (entry.startsWith('groups:')) items.push(t('cite.whyGroup', { group: entry.slice(7).trim() }));
  }
  return items;
}

function render() {
  if (!opened) return;
  const { citation, answer, doc, why, docError } = opened;
  $('#citation-heading').textContent = t('cite.heading', { n: citation.n });
  const facts = h('dl', { class: 'facts' },
    h('dt', {}, t('cite.document')), h('dd', { class: 'cite-title' }, citation.title || t('cite.untitled')),
    citation.page ? [h('dt', {}, t('cite.page')), h('dd', { class: 'cite-page' }, String(citation.page))] : null,
    h('dt', {}, t('cite.version')),
    h('dd', { class: 'cite-version' }, doc ? formatDateTime(doc.updated_at) || '—' : docError ? '—' : t('common.loading')),
    doc?.filename ? [h('dt', {}, t('cite.file')), h('dd', { class: 'cite-file' }, doc.filename)] : null,
  );
  const passage = h('blockquote', { class: 'passage', 'aria-label': t('cite.passage') },
    highlightPassage(citation.snippet, answer, citation.n, citation.span));
  const warning = citation.suspicious
    ? h('p', { class: 'notice notice-warn suspicious-notice', role: 'note' }, icon('warn'),
      h('span', {}, t('chat.suspicious')))
    : null;
  const original = docError
    ? h('p', { class: 'notice notice-warn' }, icon('warn'), h('span', {}, t('cite.gone')))
    : h('a', {
      class: 'button primary',
      href: `/api/v1/documents/${enc(citation.document_id)}/content`,
      download: doc?.filename || '',
    }, icon('download'), h('span', {}, t('cite.open')));
  const reasons = whyItems(why);
  const whyBlock = h('section', { class: 'why', 'aria-labelledby': 'why-heading' },
    h('h3', { id: 'why-heading' }, icon('shield'), h('span', {}, t('cite.why'))),
    reasons.length
      ? h('ul', {}, reasons.map((reason) => h('li', {}, reason)))
      : h('p', { class: 'muted small' }, why === undefined ? t('common.loading') : t('cite.whyUnknown')));
  replace($('#citation-body'),
    warning, h('h3', { class: 'passage-heading' }, t('cite.passageHeading')), passage, facts, original, whyBlock);
}

/** Open the panel for one citation of an answer; focus moves into the panel. */
export async function openCitation(citation, answer, trigger) {
  const panel = $('#citation-panel');
  const mine = ++generation;
  opened = { citation, answer, trigger, doc: null, why: undefined, docError: null };
  panel.hidden = false;
  document.body.classList.add('panel-open');
  render();
  panel.focus();
  const id = enc(citation.document_id);
  const [doc, why] = await Promise.allSettled([
    api(`/api/v1/documents/${id}`),
    api(`/api/v1/documents/${id}/why?chunk_id=${enc(citation.chunk_id || '')}`),
  ]);
  if (mine !== generation || !opened) return;
  opened.doc = doc.status === 'fulfilled' ? doc.value : null;
  opened.docError = doc.status === 'rejected' ? doc.reason : null;
  opened.why = why.status === 'fulfilled' ? why.value : null;
  if (opened.docError && !(opened.docError instanceof ApiError)) opened.docError = null;
  render();
}

export function closeCitation() {
  const panel = $('#citation-panel');
  if (panel.hidden) return;
  const trigger = opened?.trigger;
  opened = null;
  generation += 1;
  panel.hidden = true;
  document.body.classList.remove('panel-open');
  if (trigger && trigger.isConnected) trigger.focus();
}

export function initCitations() {
  $('#citation-close').addEventListener('click', closeCitation);
  $('#citation-panel').addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      closeCitation();
    }
  });
  onLanguageChange(render);
}
