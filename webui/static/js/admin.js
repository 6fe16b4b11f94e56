// Administration: ingestion health, users with their groups and API keys, groups, audit search.

import { api, enc } from './api.js';
import { $, $$, announce, confirmDialog, h, icon, replace, toast } from './dom.js';
import { failureDetail, failureReason } from './documents.js';
import { errorMessage } from './errors.js';
import { formatDateTime, formatNumber, onLanguageChange, t } from './i18n.js';

const STATUSES = ['queued', 'processing', 'indexed', 'failed'];
const SCOPES = ['search', 'chat', 'documents:read', 'documents:write', 'admin'];
const AUDIT_ROWS = 200;
const state = {
  me: null,
  users: [],
  groups: [],
  health: null, // {counts, ready, failures}
  keys: new Map(), // username -> [{prefix, created_at, last_used_at, revoked_at, scopes, expires_at}]
  openKeys: new Set(),
  issued: new Map(), // username -> key shown once
  audit: null, // {events, total}
  seen: null,
  titles: new Map(),
  tab: 'users',
};

/** Sample values of `sillok_document_versions{status="…"}` from Prometheus text. */
export function parseVersionCounts(text) {
  const counts = Object.fromEntries(STATUSES.map((status) => [status, 0]));
  const sample = /^sillok_document_versions\{([^}]*)\}\s+([0-9.eE+-]+)/;
  for (const line of String(text).split('\n')) {
    const match = line.match(sample);
    if (!match) continue;
    const status = /status="([^"]*)"/.exec(match[1])?.[1];
    if (status) counts[status] = (counts[status] || 0) + Number(match[2]);
  }
  return counts;
}

const splitNames = (value) => value.split(/[,\s]+/).map((name) => name.trim()).filter(Boolean);

function localToIso(value) {
  if (!value) return '';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? '' : date.toISOString();
}

function isoToLocal(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

// ---- health ----------------------------------------------------------------------------

async function loadHealth() {
  const [metrics, ready, documents, newest] = await Promise.allSettled([
    api('/metrics', { raw: true }).then((response) => response.text()),
    fetch('/readyz', { credentials: 'same-origin', cache: 'no-store' }).then((response) => response.json()),
    api('/api/v1/documents?status=failed&limit=200'),
    api('/api/v1/documents?limit=200'), // titles for the seen-documents table
  ]);
  const docs = documents.status === 'fulfilled' ? documents.value.documents || [] : [];
  const titled = newest.status === 'fulfilled' ? newest.value.documents || [] : [];
  for (const doc of [...titled, ...docs]) state.titles.set(doc.id, doc.title);
  state.health = {
    counts: metrics.status === 'fulfilled' ? parseVersionCounts(metrics.value) : null,
    ready: ready.status === 'fulfilled' ? ready.value : null,
    failures: docs.filter((doc) => doc.status === 'failed'),
  };
  renderHealth();
}

function renderHealth() {
  const health = state.health;
  if (!health) return;
  const cards = STATUSES.map((status) => h('div', { class: `stat stat-${status}`, dataset: { status } },
    h('span', { class: 'stat-value' }, health.counts ? formatNumber(health.counts[status] || 0) : '—'),
    h('span', { class: 'stat-label' }, t(status === 'queued' ? 'admin.queueDepth' : `docs.status.${status}`))));
  const checks = health.ready?.checks || health.ready?.error?.checks || null;
  const service = h('div', { class: 'stat stat-services' },
    h('span', { class: 'stat-label' }, t('admin.services')),
    checks
      ? h('ul', { class: 'service-list' }, Object.entries(checks).map(([name, value]) => h('li', {},
        h('span', { class: value === 'ok' ? 'dot dot-ok' : 'dot dot-bad', 'aria-hidden': 'true' }),
        `${t(`admin.service.${name}`)}: ${value === 'ok' ? t('admin.ok') : t('admin.unavailable')}`)))
      : h('span', { class: 'small muted' }, health.ready ? t('admin.ok') : t('admin.unavailable')));
  replace($('#health-stats'), cards, service);
  const items = health.failures.slice(0, 20).map((doc) => h('li', { dataset: { documentId: doc.id } },
    h('strong', {}, doc.title), ' — ', h('span', {}, failureReason(doc)),
    failureDetail(doc) ? h('span', { class: 'small muted block' }, failureDetail(doc)) : null));
  const unreadable = (health.counts?.failed || 0) - health.failures.length;
  if (unreadable > 0) items.push(h('li', { class: 'muted' }, t('admin.unreadableFailures', { n: unreadable })));
  if (!items.length) items.push(h('li', { class: 'muted' }, t('admin.noFailures')));
  replace($('#health-failures'), items);
}

// ---- users and keys --------------------------------------------------------------------

// Every page of a paginated list (`items` under `field`, then `next_cursor`).
async function allPages(path, field) {
  const rows = [];
  let cursor = null;
  do {
    const reply = await api(cursor ? `${path}?limit=500&cursor=${enc(cursor)}` : `${path}?limit=500`);
    rows.push(...(reply[field] || []));
    cursor = reply.next_cursor;
  } while (cursor);
  return rows;
}

async function loadUsers() {
  state.users = await allPages('/api/v1/users', 'users');
  renderUsers();
}

function keyRow(user) {
  const keys = state.keys.get(user.username);
  const issued = state.issued.get(user.username);
  const body = [];
  if (issued) {
    const keyId = `issued-${user.username}`;
    body.push(h('div', { class: 'issued-key', role: 'status' },
      h('p', {}, h('strong', {}, t('admin.keyOnce'))),
      h('code', { id: keyId, class: 'key-value' }, issued),
      h('button', {
        type: 'button', class: 'small', onclick: (event) => copyKey(issued, event.currentTarget),
      }, icon('copy', 16), h('span', {}, t('chat.copy')))));
  }
  if (!keys) body.push(h('p', { class: 'muted small' }, t('common.loading')));
  else if (!keys.length) body.push(h('p', { class: 'muted small' }, t('admin.noKeys')));
  else {
    body.push(h('ul', { class: 'key-list' }, keys.map((key) => h('li', {},
      icon('key', 16), h('code', {}, `${key.prefix}…`),
      h('span', { class: 'small muted' }, t('admin.keyCreated', { when: formatDateTime(key.created_at) })),
      h('span', { class: 'small muted' }, key.last_used_at
        ? t('admin.keyUsed', { when: formatDateTime(key.last_used_at) }) : t('admin.keyNeverUsed')),
      keyScopes(key),
      key.expires_at ? h('span', { class: 'small muted' }, new Date(key.expires_at) <= new Date()
        ? t('admin.keyExpired', { when: formatDateTime(key.expires_at) })
        : t('admin.keyExpires', { when: formatDateTime(key.expires_at) })) : null,
      key.revoked_at
        ? h('span', { class: 'chip chip-private' }, t('admin.keyRevoked'))
        : h('button', {
          type: 'button', class: 'small danger-ghost',
          'aria-label': t('admin.revokeKeyOf', { prefix: key.prefix, user: user.username }),
          onclick: () => revokeKey(user.username, key.prefix),
        }, t('admin.revoke'))))));
  }
  body.push(newKeyForm(user));
  return h('tr', { class: 'keys-row' }, h('td', { colspan: '5' }, h('div', { class: 'keys-box' },
    h('h3', { class: 'small-heading' }, t('admin.keysOf', { user: user.username })), body)));
}

/** What a key may do: its scopes, or every right of its user (a key without scopes). */
function keyScopes(key) {
  const text = key.scopes ? key.scopes.map((scope) => t(`admin.scope.${scope}`)).join(', ') : t('admin.keyAllRights');
  return h('span', { class: 'small key-scopes' }, text);
}

/** Scope checkboxes (none: every right of the user; `admin` only for admins) and an expiry. */
function newKeyForm(user) {
  const base = `key-${user.username}`;
  const boxes = SCOPES.map((scope) => {
    const id = `${base}-${scope.replace(':', '-')}`;
    const disabled = scope === 'admin' && !user.admin;
    return h('label', { for: id, class: 'choice' },
      h('input', { id, type: 'checkbox', value: scope, disabled, 'data-scope': scope }),
      h('span', {}, t(`admin.scope.${scope}`)));
  });
  const expiry = h('input', { id: `${base}-expires`, type: 'datetime-local', class: 'key-expiry' });
  const form = h('form', {
    class: 'new-key',
    onsubmit: (event) => {
      event.preventDefault();
      const scopes = [...form.querySelectorAll('input[data-scope]:checked')].map((box) => box.value);
      issueKey(user.username, scopes, localToIso(expiry.value));
    },
  },
  h('fieldset', {},
    h('legend', { class: 'small' }, t('admin.keyScopes')),
    h('p', { class: 'small muted' }, t('admin.keyScopesHint')),
    h('div', { class: 'button-row' }, boxes)),
  h('label', { for: expiry.id, class: 'small' }, t('admin.keyExpiry')), expiry,
  h('button', { type: 'submit', class: 'small primary' }, t('admin.issueKey')));
  return form;
}

function userRow(user) {
  const inputId = `groups-${user.username}`;
  const groupsInput = h('input', {
    id: inputId, value: (user.groups || []).join(', '), class: 'groups-input', autocomplete: 'off',
    'aria-label': t('admin.groupsOf', { user: user.username }),
  });
  const open = state.openKeys.has(user.username);
  const rows = [h('tr', { dataset: { username: user.username } },
    h('td', {}, h('strong', {}, user.username)),
    h('td', { class: 'small' }, user.email || ''),
    h('td', {}, h('div', { class: 'inline-edit' }, groupsInput, h('button', {
      type: 'button', class: 'small', 'aria-label': t('admin.saveGroupsOf', { user: user.username }),
      onclick: () => saveGroups(user.username, groupsInput.value),
    }, t('common.save')))),
    h('td', {}, user.admin
      ? h('span', { class: 'chip chip-public' }, t('admin.isAdmin')) : h('span', { class: 'chip' }, t('admin.member')),
    user.service ? h('span', { class: 'chip' }, t('admin.service')) : null),
    h('td', {}, h('div', { class: 'button-row' },
      h('button', {
        type: 'button', class: 'small', 'aria-expanded': String(open),
        'aria-label': t('admin.keysOf', { user: user.username }),
        onclick: () => toggleKeys(user.username),
      }, icon('key', 16), h('span', {}, t('admin.keys'))),
      user.username === state.me?.username ? null : h('button', {
        type: 'button', class: 'small danger-ghost', 'aria-label': t('admin.deleteUserOf', { user: user.username }),
        onclick: () => deleteUser(user.username),
      }, icon('trash', 16), h('span', {}, t('common.delete'))))))];
  if (open) rows.push(keyRow(user));
  return rows;
}

function renderUsers() {
  replace($('#user-rows'), state.users.map(userRow));
}

async function saveUser(event) {
  event.preventDefault();
  const error = $('#user-error');
  error.textContent = '';
  const password = $('#new-password').value;
  if (password && password.length < 12) {
    error.textContent = t('admin.passwordShort');
    $('#new-password').focus();
    return;
  }
  const body = {
    username: $('#new-username').value.trim(),
    email: $('#new-email').value.trim() || null,
    groups: splitNames($('#new-groups').value),
    admin: $('#new-admin').checked,
    service: $('#new-service').checked, // signs in never; acts only by API key
  };
  if (password) body.password = password;
  if (!body.username) {
    error.textContent = t('admin.usernameRequired');
    $('#new-username').focus();
    return;
  }
  try {
    await api('/api/v1/users', { method: 'POST', json: body });
    $('#user-form').reset();
    announce(t('admin.userSaved', { user: body.username }));
    await Promise.all([loadUsers(), loadGroups()]);
  } catch (failure) {
    error.textContent = errorMessage(failure);
  }
}

async function saveGroups(username, value) {
  try {
    await api(`/api/v1/users/${enc(username)}/groups`, { method: 'PUT', json: { groups: splitNames(value) } });
    announce(t('admin.groupsSaved', { user: username }));
    await Promise.all([loadUsers(), loadGroups()]);
  } catch (error) {
    toast(errorMessage(error));
  }
}

async function deleteUser(username) {
  if (!(await confirmDialog(t('admin.confirmDeleteUser', { user: username }), t('common.delete')))) return;
  try {
    await api(`/api/v1/users/${enc(username)}`, { method: 'DELETE' });
    announce(t('admin.userDeleted', { user: username }));
    await Promise.all([loadUsers(), loadGroups()]);
    $('#new-username').focus();
  } catch (error) {
    toast(errorMessage(error));
  }
}

async function loadKeys(username) {
  try {
    const reply = await api(`/api/v1/users/${enc(username)}/api-keys`);
    state.keys.set(username, reply.keys || []);
  } catch (error) {
    state.keys.set(username, []);
    toast(errorMessage(error));
  }
  renderUsers();
}

function toggleKeys(username) {
  if (state.openKeys.has(username)) {
    state.openKeys.delete(username);
    state.issued.delete(username);
    renderUsers();
    return;
  }
  state.openKeys.add(username);
  renderUsers();
  loadKeys(username);
}

async function issueKey(username, scopes = [], expiresAt = '') {
  const json = {};
  if (scopes.length) json.scopes = scopes;
  if (expiresAt) json.expires_at = expiresAt;
  try {
    const reply = await api(`/api/v1/users/${enc(username)}/api-keys`, { method: 'POST', json });
    state.issued.set(username, reply.key);
    await loadKeys(username);
    announce(t('admin.keyIssued', { user: username }));
  } catch (error) {
    toast(errorMessage(error));
  }
}

async function revokeKey(username, prefix) {
  if (!(await confirmDialog(t('admin.confirmRevoke', { prefix, user: username }), t('admin.revoke')))) return;
  try {
    await api(`/api/v1/users/${enc(username)}/api-keys/${enc(prefix)}`, { method: 'DELETE' });
    announce(t('admin.keyRevokedFor', { user: username }));
    await loadKeys(username);
  } catch (error) {
    toast(errorMessage(error));
  }
}

async function copyKey(key, button) {
  try {
    await navigator.clipboard.writeText(key);
    announce(t('chat.copied'));
  } catch {
    const range = document.createRange();
    range.selectNodeContents(button.previousElementSibling);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    announce(t('admin.keySelected'));
  }
}

// ---- groups ----------------------------------------------------------------------------

async function loadGroups() {
  state.groups = await allPages('/api/v1/groups', 'groups');
  renderGroups();
}

function renderGroups() {
  replace($('#group-rows'), state.groups.length
    ? state.groups.map((group) => h('tr', {},
      h('td', {}, h('strong', {}, group.name)),
      h('td', {}, (group.members || []).map((member) => h('span', { class: 'chip chip-user' }, member)))))
    : h('tr', {}, h('td', { colspan: '2', class: 'muted' }, t('admin.noGroups'))));
}

// ---- audit -----------------------------------------------------------------------------

async function searchAudit(event) {
  event?.preventDefault();
  const params = new URLSearchParams();
  const actor = $('#audit-actor').value.trim();
  const action = $('#audit-action').value.trim();
  const since = localToIso($('#audit-since').value);
  const until = localToIso($('#audit-until').value);
  if (actor) params.set('actor', actor);
  if (action) params.set('action', action);
  if (since) params.set('since', since);
  if (until) params.set('until', until);
  $('#audit-status').textContent = t('common.loading');
  try {
    const text = await (await api(`/api/v1/audit?${params}`, { raw: true })).text();
    const events = text.split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line));
    events.reverse();
    state.audit = { events: events.slice(0, AUDIT_ROWS), total: events.length };
  } catch (error) {
    state.audit = { events: [], total: 0, error: errorMessage(error) };
  }
  renderAudit();
}

function renderAudit() {
  if (!state.audit) return;
  const { events, total, error } = state.audit;
  $('#audit-status').textContent = error
    || (total > events.length ? t('admin.eventsShown', { n: events.length, total }) : t('admin.events', { n: total }));
  replace($('#audit-rows'), events.map((event) => h('tr', {},
    h('td', { class: 'small nowrap' }, formatDateTime(event.at)),
    h('td', {}, event.actor || '—'),
    h('td', {}, h('code', {}, event.action)),
    h('td', { class: 'small' }, event.channel || ''),
    h('td', { class: 'small detail' }, JSON.stringify(event.detail ?? {})))));
}

async function searchSeen(event) {
  event.preventDefault();
  const params = new URLSearchParams({
    user: $('#seen-user').value.trim(),
    since: localToIso($('#seen-since').value),
    until: localToIso($('#seen-until').value),
  });
  $('#seen-status').textContent = t('common.loading');
  try {
    const reply = await api(`/api/v1/audit/seen?${params}`);
    state.seen = { documents: reply.documents || [] };
  } catch (error) {
    state.seen = { documents: [], error: errorMessage(error) };
  }
  renderSeen();
}

function renderSeen() {
  if (!state.seen) return;
  const { documents, error } = state.seen;
  $('#seen-status').textContent = error || t('admin.seenCount', { n: documents.length });
  replace($('#seen-rows'), documents.map((doc) => h('tr', {},
    h('td', {}, state.titles.get(doc.document_id) || '', h('code', { class: 'small block' }, doc.document_id)),
    h('td', { class: 'small' }, (doc.versions || []).join(', ')),
    h('td', {}, formatNumber(doc.passages || 0)),
    h('td', { class: 'small nowrap' }, formatDateTime(doc.first_seen)),
    h('td', { class: 'small nowrap' }, formatDateTime(doc.last_seen)))));
}

// ---- tabs and wiring -------------------------------------------------------------------

function selectTab(name, focus = false) {
  state.tab = name;
  for (const tab of $$('[role="tab"]', $('#view-admin'))) {
    const selected = tab.id === `tab-${name}`;
    tab.setAttribute('aria-selected', String(selected));
    tab.tabIndex = selected ? 0 : -1;
    if (selected && focus) tab.focus();
    $(`#${tab.getAttribute('aria-controls')}`).hidden = !selected;
  }
  if (name === 'audit' && !state.audit) searchAudit();
}

export function initAdmin() {
  const tabs = $$('[role="tab"]', $('#view-admin'));
  const names = tabs.map((tab) => tab.id.replace('tab-', ''));
  for (const tab of tabs) {
    tab.addEventListener('click', () => selectTab(tab.id.replace('tab-', '')));
    tab.addEventListener('keydown', (event) => {
      const at = names.indexOf(state.tab);
      const moves = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: names.length - 1 };
      if (!(event.key in moves)) return;
      event.preventDefault();
      selectTab(names[(moves[event.key] + names.length) % names.length], true);
    });
  }
  $('#user-form').addEventListener('submit', saveUser);
  $('#audit-form').addEventListener('submit', searchAudit);
  $('#seen-form').addEventListener('submit', searchSeen);
  $('#health-refresh').addEventListener('click', () => loadHealth().catch((error) => toast(errorMessage(error))));
  const now = new Date();
  const dayAgo = new Date(now.getTime() - 24 * 3600 * 1000);
  $('#audit-since').value = isoToLocal(dayAgo);
  $('#seen-since').value = isoToLocal(dayAgo);
  $('#seen-until').value = isoToLocal(new Date(now.getTime() + 3600 * 1000));
  onLanguageChange(() => {
    renderHealth();
    renderUsers();
    renderGroups();
    renderAudit();
    renderSeen();
  });
}

export async function showAdmin(me) {
  state.me = me;
  selectTab(state.tab);
  try {
    await Promise.all([loadHealth(), loadUsers(), loadGroups()]);
  } catch (error) {
    toast(errorMessage(error));
  }
}

export function resetAdmin() {
  Object.assign(state, {
    users: [], groups: [], health: null, keys: new Map(), openKeys: new Set(), issued: new Map(),
    audit: null, seen: null, titles: new Map(), tab: 'users',
  });
}
