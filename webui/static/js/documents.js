// Documents: drag-and-drop upload with an ACL chosen from the user's groups, the list of
// readable documents a page at a time (search by title, filter by status, more pages as the
// reader scrolls) with live status and progress, retry, ACL editing and deletion where allowed.
// The list is kept current by asking only for what changed since the last reply
// (`updated_since`), never by reading it all again.

import { api, enc, upload } from './api.js';
import { $, $$, announce, confirmDialog, h, icon, replace, toast } from './dom.js';
import { errorMessage } from './errors.js';
import { formatDateTime, formatNumber, onLanguageChange, t } from './i18n.js';

const FINAL = new Set(['indexed', 'failed']);
const FAST_POLL_MS = 1500;
const SLOW_POLL_MS = 15000;
const PAGE_SIZE = 50;
const CHANGES_PAGE = 200;
const MAX_CHANGE_PAGES = 5; // beyond this many changes at once, the list is read again
const SEARCH_DELAY_MS = 300;
const KNOWN_ERRORS = new Set([
  'unsupported_format', 'encrypted', 'empty_document', 'no_text_layer', 'malformed_document', 'too_large',
  'format_mismatch', 'unsafe_content', 'too_complex', 'parse_timeout', 'parser_crashed', 'document_failed',
]);

const state = {
  me: null,
  documents: [], // the loaded pages, newest first
  cursor: null, // the next page's, or null when everything matching is loaded
  since: null, // `updated_since` of the next poll
  filter: { q: '', status: '' },
  generation: 0, // replies to an older list (other filter, reset) are dropped
  loadingMore: false,
  searchTimer: 0,
  observer: null,
  pending: [], // {id, file, progress, error, uploading}
  visible: false,
  timer: 0,
  previous: new Map(), // id -> status, to announce changes
  allGroups: [],
  editing: null,
};
let nextPendingId = 1;

function canManage(doc) {
  return Boolean(state.me && (state.me.admin || doc.uploaded_by === state.me.username));
}

function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return '';
  const units = ['B', 'KB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${formatNumber(Math.round(value * 10) / 10)} ${units[unit]}`;
}

function statusCell(doc) {
  const status = FINAL.has(doc.status) || doc.status === 'processing' ? doc.status : 'queued';
  const cell = [h('span', { class: `status status-${status}` }, t(`docs.status.${status}`))];
  const progress = doc.progress;
  if (!FINAL.has(doc.status) && progress && progress.chunks_total) {
    const done = Math.min(progress.chunks_done || 0, progress.chunks_total);
    cell.push(h('div', { class: 'progress-line' },
      h('progress', {
        max: String(progress.chunks_total), value: String(done),
        'aria-label': t('docs.progressLabel', { title: doc.title }),
      }),
      h('span', { class: 'small muted' }, t('docs.progress', {
        done: formatNumber(done), total: formatNumber(progress.chunks_total),
      }))));
  } else if (doc.status === 'indexed' && Number.isFinite(doc.chunks)) {
    cell.push(h('span', { class: 'small muted block' }, t('docs.passages', { n: formatNumber(doc.chunks) })));
  }
  if (doc.status === 'failed') {
    cell.push(h('p', { class: 'failure-reason' }, failureReason(doc)));
    if (failureDetail(doc)) cell.push(h('p', { class: 'failure-detail small muted' }, failureDetail(doc)));
  }
  return cell;
}

/** Why a document failed, in the reader's language (the server's detail is English only). */
export function failureReason(doc) {
  return t(`docs.errorCode.${KNOWN_ERRORS.has(doc.error_code) ? doc.error_code : 'document_failed'}`);
}

/** The server's own words about a failure, unless they only repeat the reason shown. */
export function failureDetail(doc) {
  const plain = (text) => String(text || '').toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
  return doc.error && plain(doc.error) !== plain(failureReason(doc)) ? doc.error : '';
}

function accessSummary(acl = {}) {
  const chips = [];
  if (acl.public) chips.push(h('span', { class: 'chip chip-public' }, t('docs.everyone')));
  for (const group of acl.groups || []) chips.push(h('span', { class: 'chip' }, t('docs.groupChip', { group })));
  const users = acl.users || [];
  if (!acl.public && !(acl.groups || []).length && users.length === 1 && users[0] === state.me?.username) {
    chips.push(h('span', { class: 'chip chip-private' }, t('docs.onlyYou')));
  } else {
    for (const user of users) chips.push(h('span', { class: 'chip chip-user' }, user));
  }
  if (!chips.length) chips.push(h('span', { class: 'chip chip-private' }, t('docs.nobody')));
  return chips;
}

function row(doc) {
  const actions = [];
  if (canManage(doc) && doc.status === 'failed') {
    actions.push(h('button', {
      type: 'button', class: 'small', 'aria-label': t('docs.retryOf', { title: doc.title }),
      onclick: () => retryDocument(doc),
    }, t('docs.retry')));
  }
  if (canManage(doc)) {
    actions.push(
      h('button', {
        type: 'button', class: 'small', 'aria-label': t('docs.editAccessOf', { title: doc.title }),
        onclick: (event) => openAclDialog(doc, event.currentTarget),
      }, t('docs.editAccess')),
      h('button', {
        type: 'button', class: 'small danger-ghost', 'aria-label': t('docs.deleteOf', { title: doc.title }),
        onclick: () => deleteDocument(doc),
      }, icon('trash', 16), h('span', {}, t('common.delete'))));
  }
  return h('tr', { dataset: { documentId: doc.id, status: doc.status } },
    h('td', { class: 'doc-title' },
      h('span', { class: 'doc-name' }, icon('file', 16), h('strong', {}, doc.title || doc.filename || doc.id)),
      doc.filename && doc.filename !== doc.title
        ? h('span', { class: 'small muted block' }, doc.filename) : null,
      doc.size_bytes ? h('span', { class: 'small muted block' }, formatBytes(doc.size_bytes)) : null),
    h('td', { class: 'doc-status' }, statusCell(doc)),
    h('td', { class: 'doc-access' }, accessSummary(doc.acl)),
    h('td', { class: 'doc-updated small' }, formatDateTime(doc.updated_at)),
    h('td', { class: 'doc-actions' }, h('div', { class: 'button-row' }, actions)));
}

function filtering() {
  return Boolean(state.filter.q || state.filter.status);
}

function renderList() {
  replace($('#doc-rows'), state.documents.map(row));
  const none = state.documents.length === 0 && state.since !== null;
  $('#doc-empty').hidden = !none || filtering();
  $('#doc-no-match').hidden = !none || !filtering();
  $('#doc-more').hidden = !state.cursor;
  const shown = { n: formatNumber(state.documents.length) };
  $('#doc-count').textContent = !state.documents.length ? ''
    : state.cursor ? t('docs.shownMore', shown) : t('docs.shownAll', shown);
  const busy = state.documents.filter((doc) => !FINAL.has(doc.status)).length;
  $('#doc-live').textContent = busy ? t('docs.processingCount', { n: busy }) : '';
}

function renderQueue() {
  replace($('#upload-queue'), state.pending.map((item) => h('li', { class: 'queue-item' },
    icon('file', 16),
    h('span', { class: 'queue-name' }, item.file.name),
    h('span', { class: 'small muted' }, formatBytes(item.file.size)),
    item.uploading
      ? h('progress', {
        max: '100', value: String(Math.round(item.progress * 100)),
        'aria-label': t('docs.uploadingFile', { name: item.file.name }),
      })
      : h('button', {
        type: 'button', class: 'icon-button', 'aria-label': t('docs.removeFile', { name: item.file.name }),
        onclick: () => removePending(item.id),
      }, icon('trash', 16)),
    item.error ? h('span', { class: 'form-error inline', role: 'alert' }, item.error) : null)));
  $('#upload-submit').disabled = !state.pending.some((item) => !item.uploading);
  $('#upload-submit').textContent = state.pending.length > 1
    ? t('docs.uploadMany', { n: state.pending.length }) : t('docs.upload');
}

function renderShareChoices() {
  const groups = state.me?.groups || [];
  const box = $('#share-groups');
  replace(box, groups.length
    ? groups.map((group) => h('label', { class: 'choice chip-choice' },
      h('input', { type: 'checkbox', name: 'share-group', value: group }), ' ', h('span', {}, group)))
    : h('span', { class: 'small muted' }, t('docs.noGroups')));
  const groupsRadio = $('input[name="share"][value="groups"]');
  groupsRadio.disabled = groups.length === 0;
  $('#share-public-choice').hidden = !state.me?.admin;
}

function addFiles(files) {
  for (const file of files) {
    state.pending.push({ id: nextPendingId++, file, progress: 0, error: '', uploading: false });
  }
  renderQueue();
  $('#upload-error').textContent = '';
  announce(t('docs.filesAdded', { n: files.length }));
}

function removePending(id) {
  state.pending = state.pending.filter((item) => item.id !== id);
  renderQueue();
  $('#upload-input').focus();
}

function chosenAcl() {
  const share = $('input[name="share"]:checked')?.value || 'me';
  const me = state.me.username;
  if (share === 'public') return { users: [me], groups: [], public: true };
  if (share === 'groups') {
    const groups = $$('input[name="share-group"]:checked').map((box) => box.value);
    if (!groups.length) return null;
    return { users: [me], groups, public: false };
  }
  return { users: [me], groups: [], public: false };
}

async function submitUploads(event) {
  event.preventDefault();
  const acl = chosenAcl();
  if (!acl) {
    $('#upload-error').textContent = t('docs.chooseGroup');
    $('#share-groups input')?.focus();
    return;
  }
  const title = $('#upload-title').value.trim();
  const items = state.pending.filter((item) => !item.uploading);
  for (const item of items) {
    item.uploading = true;
    item.error = '';
  }
  renderQueue();
  await Promise.all(items.map(async (item) => {
    const form = new FormData();
    form.append('file', item.file, item.file.name);
    form.append('acl', JSON.stringify(acl));
    if (title && items.length === 1) form.append('title', title);
    try {
      await upload('/api/v1/documents', form, (fraction) => {
        item.progress = fraction;
        renderQueue();
      });
      state.pending = state.pending.filter((other) => other !== item);
      announce(t('docs.uploaded', { name: item.file.name }));
    } catch (error) {
      item.uploading = false;
      item.error = errorMessage(error);
    }
    renderQueue();
  }));
  if (!state.pending.length) $('#upload-title').value = '';
  await poll();
}

async function deleteDocument(doc) {
  if (!(await confirmDialog(t('docs.confirmDelete', { title: doc.title }), t('common.delete')))) return;
  try {
    await api(`/api/v1/documents/${enc(doc.id)}`, { method: 'DELETE' });
    announce(t('docs.deleted', { title: doc.title }));
    state.documents = state.documents.filter((other) => other.id !== doc.id);
    renderList();
    $('#upload-input').focus();
  } catch (error) {
    toast(errorMessage(error));
  }
}

// ---- access dialog ---------------------------------------------------------------------

async function openAclDialog(doc) {
  state.editing = doc;
  if (state.me.admin && !state.allGroups.length) {
    try {
      state.allGroups = ((await api('/api/v1/groups')).groups || []).map((group) => group.name);
    } catch { /* fall back to the admin's own groups */ }
  }
  const groups = new Set([...(state.me.groups || []), ...(doc.acl?.groups || []), ...state.allGroups]);
  replace($('#acl-groups'), [...groups].sort().map((group) => h('label', { class: 'choice chip-choice' },
    h('input', {
      type: 'checkbox', name: 'acl-group', value: group, checked: (doc.acl?.groups || []).includes(group),
    }), ' ', h('span', {}, group))));
  if (!groups.size) replace($('#acl-groups'), h('span', { class: 'small muted' }, t('docs.noGroups')));
  $('#acl-doc-title').textContent = doc.title;
  $('#acl-users').value = (doc.acl?.users || []).join(', ');
  const publicBox = $('#acl-public');
  publicBox.checked = Boolean(doc.acl?.public);
  publicBox.disabled = !state.me.admin;
  $('#acl-public-choice').hidden = !state.me.admin && !doc.acl?.public;
  $('#acl-error').textContent = '';
  $('#acl-dialog').showModal();
}

async function saveAcl(event) {
  event.preventDefault();
  const doc = state.editing;
  if (!doc) return;
  const users = $('#acl-users').value.split(/[,\s]+/).map((u) => u.trim()).filter(Boolean);
  const body = {
    users,
    groups: $$('input[name="acl-group"]:checked').map((box) => box.value),
    public: $('#acl-public').checked,
  };
  try {
    await api(`/api/v1/documents/${enc(doc.id)}/acl`, { method: 'PUT', json: body });
    $('#acl-dialog').close();
    announce(t('docs.accessSaved', { title: doc.title }));
    state.editing = null;
    await reload(); // the document may have left what this reader can see
  } catch (error) {
    $('#acl-error').textContent = error.status === 403 ? t('docs.aclForbidden') : errorMessage(error);
  }
}

// ---- retry -----------------------------------------------------------------------------

async function retryDocument(doc) {
  try {
    const reply = await api(`/api/v1/documents/${enc(doc.id)}/retry`, { method: 'POST' });
    announce(t('docs.retried', { title: doc.title }));
    merge({ ...doc, status: reply.status || 'queued', error: null, error_code: null, progress: null });
    renderList();
    await poll(); // and from now on the changes, until it is final
  } catch (error) {
    toast(errorMessage(error));
  }
}

// ---- the list: pages, filters, changes --------------------------------------------------

function listQuery(extra = {}) {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE), ...extra });
  if (state.filter.q) params.set('q', state.filter.q);
  if (state.filter.status) params.set('status', state.filter.status);
  return `/api/v1/documents?${params}`;
}

/** Does `doc` belong in the list under the current filter? (The server's rule, for changes.) */
function matches(doc) {
  if (state.filter.status && doc.status !== state.filter.status) return false;
  const q = state.filter.q.toLocaleLowerCase();
  return !q || String(doc.title || '').toLocaleLowerCase().includes(q);
}

/** Newest first, like the server: by creation time, then by id. */
function newer(a, b) {
  const at = Date.parse(a.created_at) || 0;
  const bt = Date.parse(b.created_at) || 0;
  if (at !== bt) return at > bt;
  return a.id > b.id;
}

function announceChanges(changed) {
  for (const doc of changed) {
    const before = state.previous.get(doc.id);
    if (before && before !== doc.status && FINAL.has(doc.status)) {
      announce(t('docs.statusChanged', { title: doc.title, status: t(`docs.status.${doc.status}`) }));
    }
  }
  for (const doc of state.documents) state.previous.set(doc.id, doc.status);
}

/** Put a changed document where it belongs, or take it out when it no longer matches. */
function merge(doc) {
  const index = state.documents.findIndex((other) => other.id === doc.id);
  if (index >= 0) {
    if (matches(doc)) state.documents[index] = doc;
    else state.documents.splice(index, 1);
    return;
  }
  if (!matches(doc)) return;
  const last = state.documents[state.documents.length - 1];
  if (state.cursor && last && !newer(doc, last)) return; // a later page will bring it
  const at = state.documents.findIndex((other) => newer(doc, other));
  state.documents.splice(at < 0 ? state.documents.length : at, 0, doc);
}

/** Read the list again from its first page (a new filter, a reset, too many changes). */
async function reload() {
  const generation = ++state.generation;
  try {
    const reply = await api(listQuery());
    if (generation !== state.generation) return;
    state.documents = reply.documents || [];
    state.cursor = reply.next_cursor || null;
    state.since = reply.next_updated_since || null;
    announceChanges(state.documents);
    renderList();
  } catch (error) {
    if (error.status !== 401) toast(errorMessage(error));
  }
  schedule();
}

async function loadMore() {
  if (!state.cursor || state.loadingMore) return;
  const generation = state.generation;
  state.loadingMore = true;
  try {
    const reply = await api(listQuery({ cursor: state.cursor }));
    if (generation !== state.generation) return;
    const known = new Set(state.documents.map((doc) => doc.id));
    state.documents.push(...(reply.documents || []).filter((doc) => !known.has(doc.id)));
    state.cursor = reply.next_cursor || null;
    announceChanges(state.documents);
    renderList();
  } catch (error) {
    if (error.status !== 401) toast(errorMessage(error));
  } finally {
    state.loadingMore = false;
  }
}

/** Ask only for what changed since the last reply and fold it into the list. */
async function poll() {
  if (!state.since) {
    await reload();
    return;
  }
  const generation = state.generation;
  try {
    const changed = [];
    let cursor = null;
    let since = null;
    for (let page = 0; page < MAX_CHANGE_PAGES; page += 1) {
      const params = new URLSearchParams({ limit: String(CHANGES_PAGE), updated_since: state.since });
      if (cursor) params.set('cursor', cursor);
      const reply = await api(`/api/v1/documents?${params}`);
      since = since || reply.next_updated_since;
      changed.push(...(reply.documents || []));
      cursor = reply.next_cursor;
      if (!cursor) break;
    }
    if (generation !== state.generation) return;
    if (cursor) {
      await reload();
      return;
    }
    for (const doc of changed) merge(doc);
    state.since = since || state.since;
    announceChanges(changed);
    renderList();
  } catch (error) {
    if (error.status !== 401) toast(errorMessage(error));
  }
  schedule();
}

function schedule() {
  window.clearTimeout(state.timer);
  if (!state.visible) return;
  const busy = state.documents.some((doc) => !FINAL.has(doc.status)) || state.pending.some((p) => p.uploading);
  state.timer = window.setTimeout(poll, busy ? FAST_POLL_MS : SLOW_POLL_MS);
}

function applyFilter() {
  const next = { q: $('#doc-search').value.trim(), status: $('#doc-status-filter').value };
  if (next.q === state.filter.q && next.status === state.filter.status) return;
  state.filter = next;
  state.cursor = null;
  reload();
}

// ---- wiring ----------------------------------------------------------------------------

export function initDocuments() {
  const dropzone = $('#dropzone');
  const input = $('#upload-input');
  input.addEventListener('change', () => {
    addFiles(Array.from(input.files || []));
    input.value = '';
  });
  for (const type of ['dragenter', 'dragover']) {
    dropzone.addEventListener(type, (event) => {
      event.preventDefault();
      dropzone.classList.add('dragging');
    });
  }
  for (const type of ['dragleave', 'dragend']) {
    dropzone.addEventListener(type, () => dropzone.classList.remove('dragging'));
  }
  dropzone.addEventListener('drop', (event) => {
    event.preventDefault();
    dropzone.classList.remove('dragging');
    addFiles(Array.from(event.dataTransfer?.files || []));
  });
  // A file dropped next to the drop zone must not make the browser navigate to it.
  for (const type of ['dragover', 'drop']) {
    window.addEventListener(type, (event) => {
      if (!dropzone.contains(event.target)) event.preventDefault();
    });
  }
  $('#upload-form').addEventListener('submit', submitUploads);
  $('#share-groups').addEventListener('change', (event) => {
    if (event.target.checked) $('input[name="share"][value="groups"]').checked = true;
  });
  $('#acl-form').addEventListener('submit', saveAcl);
  $('#acl-cancel').addEventListener('click', () => $('#acl-dialog').close());
  $('#doc-filter-form').addEventListener('submit', (event) => {
    event.preventDefault();
    window.clearTimeout(state.searchTimer);
    applyFilter();
  });
  $('#doc-search').addEventListener('input', () => {
    window.clearTimeout(state.searchTimer);
    state.searchTimer = window.setTimeout(applyFilter, SEARCH_DELAY_MS);
  });
  $('#doc-status-filter').addEventListener('change', applyFilter);
  $('#doc-more').addEventListener('click', loadMore);
  if ('IntersectionObserver' in window) { // more pages as the reader scrolls to the end
    state.observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) loadMore();
    });
    state.observer.observe($('#doc-more'));
  }
  onLanguageChange(() => {
    renderList();
    renderQueue();
    renderShareChoices();
  });
}

export function showDocuments(me) {
  state.me = me;
  state.visible = true;
  renderShareChoices();
  renderQueue();
  renderList();
  reload();
}

export function hideDocuments() {
  state.visible = false;
  window.clearTimeout(state.timer);
}

export function resetDocuments() {
  hideDocuments();
  state.generation += 1;
  state.documents = [];
  state.cursor = null;
  state.since = null;
  state.filter = { q: '', status: '' };
  $('#doc-search').value = '';
  $('#doc-status-filter').value = '';
  state.pending = [];
  state.previous = new Map();
  state.allGroups = [];
}
