// The application shell: session, navigation between views, language switch.

import { api, setCsrf, whenUnauthenticated } from './api.js';
import { initAdmin, resetAdmin, showAdmin } from './admin.js';
import { initChat, resetChat, showChat } from './chat.js';
import { closeCitation, initCitations } from './citations.js';
import { initDocuments, hideDocuments, resetDocuments, showDocuments } from './documents.js';
import { $, $$, toast } from './dom.js';
import { errorMessage } from './errors.js';
import { initI18n, onLanguageChange, setLanguage, t } from './i18n.js';
import { initLogin, showLogin } from './login.js';

const VIEWS = ['login', 'chat', 'documents', 'admin'];
let me = null;
let config = null;

function route() {
  const [, view = 'chat', ...rest] = window.location.hash.replace(/^#/, '').split('/');
  return { view: VIEWS.includes(view) && view !== 'login' ? view : 'chat', id: rest.length ? decodeURIComponent(rest.join('/')) : null };
}

function showView(name) {
  for (const view of VIEWS) $(`#view-${view}`).hidden = view !== name;
  for (const link of $$('#main-nav a')) {
    if (link.dataset.route === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.body.dataset.view = name;
  if (name !== 'documents') hideDocuments();
  if (name !== 'chat') closeCitation();
}

function renderSession() {
  const signedIn = Boolean(me);
  $('#main-nav').hidden = !signedIn;
  $('#logout').hidden = !signedIn;
  $('#whoami').hidden = !signedIn;
  $('#whoami').textContent = signedIn ? t('auth.signedInAs', { user: me.username }) : '';
  $('#main-nav a[data-route="admin"]').hidden = !me?.admin;
}

async function navigate() {
  if (!me) {
    showView('login');
    showLogin(config);
    return;
  }
  let { view, id } = route();
  if (view === 'admin' && !me.admin) {
    view = 'chat';
    window.history.replaceState(null, '', '#/chat');
  }
  showView(view);
  if (view === 'chat') await showChat(id);
  else if (view === 'documents') showDocuments(me);
  else if (view === 'admin') await showAdmin(me);
}

function signedIn(user) {
  me = user;
  renderSession();
  if (!window.location.hash || window.location.hash === '#/login') window.history.replaceState(null, '', '#/chat');
  navigate();
  $('#main').focus();
}

function signedOut() {
  me = null;
  setCsrf('');
  resetChat();
  resetDocuments();
  resetAdmin();
  renderSession();
  navigate();
}

async function logout() {
  try {
    await api('/api/v1/auth/logout', { method: 'POST' });
  } catch (error) {
    if (error.status !== 401) toast(errorMessage(error));
  }
  signedOut();
}

async function boot() {
  await initI18n();
  for (const button of $$('[data-lang]')) {
    button.addEventListener('click', () => setLanguage(button.dataset.lang));
  }
  onLanguageChange(renderSession);
  initLogin(signedIn);
  initChat();
  initCitations();
  initDocuments();
  initAdmin();
  $('#logout').addEventListener('click', logout);
  whenUnauthenticated(() => { if (me) signedOut(); });
  window.addEventListener('hashchange', () => { if (me) navigate(); });

  try {
    config = await api('/api/v1/auth/config', { quiet401: true });
  } catch {
    config = { local: true, oidc: false, oidc_login_url: null };
  }
  try {
    const user = await api('/api/v1/me', { quiet401: true });
    me = { username: user.username, groups: user.groups || [], admin: Boolean(user.admin) };
  } catch {
    me = null;
  }
  renderSession();
  document.body.classList.remove('booting');
  await navigate();
  document.body.dataset.ready = 'true';
}

boot();
