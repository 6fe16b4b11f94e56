// Chat: the conversation list, a conversation's history, streamed answers with citations,
// stop, copy and feedback.

import { api, ApiError, enc } from './api.js';
import { closeCitation, openCitation } from './citations.js';
import { $, announce, confirmDialog, h, icon, replace, toast } from './dom.js';
import { detectLanguage, formatDateTime, onLanguageChange, t, tFor, translate } from './i18n.js';
import { renderMarkdown } from './markdown.js';
import { readEvents } from './sse.js';
import { errorMessage } from './errors.js';

const state = {
  conversations: [],
  currentId: null,
  turns: [],
  controller: null,
  loading: 0,
};

function citationLabel(citation, lang) {
  const page = citation.page ? tFor(lang, 'chat.pageShort', { page: citation.page }) : '';
  return [citation.title || tFor(lang, 'cite.untitled'), page].filter(Boolean).join(' · ');
}

const MARKERS = /\[\d{1,3}(?:\s*[,，、]\s*\d{1,3})*\]/g;

/** Text for comparing sentences with an answer: no markers, Markdown punctuation or spacing. */
function comparable(text) {
  return String(text ?? '').replace(MARKERS, ' ').replace(/[*_`#>|~]/g, ' ').replace(/\s+/g, ' ')
    .trim().toLowerCase();
}

/** The text of `root` without the numbers of its citation badges. */
function textWithoutCites(root) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  let text = '';
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement?.closest('.cite, .cite-pending')) text += node.data;
  }
  return text;
}

/** One question and its answer. */
class Turn {
  constructor(question) {
    this.question = question;
    this.answer = '';
    this.citations = [];
    this.grounded = true;
    this.refused = false;
    this.language = ''; // the answer's language from the server; until then the question's
    this.groundedness = null;
    this.sentences = [];
    this.droppedCitations = 0;
    this.mode = '';
    this.withheld = false;
    this.messageId = null;
    this.status = 'streaming'; // streaming | done | stopped | failed
    this.error = '';
    this.rating = 0;
    this.frame = 0;

    this.meta = h('div', { class: 'answer-meta' });
    this.notice = h('div', { class: 'answer-notice' });
    this.verification = h('div', { class: 'verification', hidden: true });
    this.body = h('div', { class: 'answer-body markdown' });
    this.unsupported = h('section', { class: 'unsupported', hidden: true });
    this.sources = h('div', { class: 'sources' });
    // Everything Sillok says about the answer follows the answer's language, not the page's.
    this.content = h('div', { class: 'answer-content' },
      this.meta, this.notice, this.verification, this.body, this.unsupported, this.sources);
    this.actions = this.buildActions();
    this.answerBox = h('section', { class: 'bubble answer', 'aria-busy': 'true', dataset: { state: 'streaming' } },
      h('h3', { class: 'visually-hidden', 'data-i18n': 'chat.answerLabel' }, t('chat.answerLabel')),
      this.content, this.actions);
    this.root = h('article', { class: 'turn' },
      h('div', { class: 'bubble question' },
        h('h3', { class: 'visually-hidden', 'data-i18n': 'chat.youAsked' }, t('chat.youAsked')),
        h('p', { class: 'question-text' }, question)),
      this.answerBox);
    this.render();
  }

  buildActions() {
    this.copyButton = h('button', { type: 'button', class: 'ghost small', onclick: () => this.copy() },
      icon('copy'), h('span', { 'data-i18n': 'chat.copy' }, t('chat.copy')));
    this.upButton = h('button', {
      type: 'button', class: 'ghost small rate', 'aria-pressed': 'false', 'data-i18n-aria-label': 'chat.helpful',
      'aria-label': t('chat.helpful'), 'data-i18n-title': 'chat.helpful', title: t('chat.helpful'),
      dataset: { rating: '1' }, onclick: () => this.rate(1),
    }, icon('up'));
    this.downButton = h('button', {
      type: 'button', class: 'ghost small rate', 'aria-pressed': 'false', 'data-i18n-aria-label': 'chat.notHelpful',
      'aria-label': t('chat.notHelpful'), 'data-i18n-title': 'chat.notHelpful', title: t('chat.notHelpful'),
      dataset: { rating: '-1' }, onclick: () => this.rate(-1),
    }, icon('down'));
    this.commentId = `comment-${Math.random().toString(36).slice(2)}`;
    this.commentBox = h('textarea', { id: this.commentId, rows: '2', maxlength: '4000', class: 'feedback-comment' });
    this.feedbackForm = h('form', { class: 'feedback-form', hidden: true, onsubmit: (event) => this.sendComment(event) },
      h('label', { for: this.commentId, 'data-i18n': 'chat.commentLabel' }, t('chat.commentLabel')),
      this.commentBox,
      h('button', { type: 'submit', class: 'small', 'data-i18n': 'chat.sendComment' }, t('chat.sendComment')));
    this.feedbackStatus = h('p', { class: 'feedback-status small muted', role: 'status' });
    return h('div', { class: 'answer-actions', hidden: true },
      h('div', { class: 'action-row' }, this.copyButton, this.upButton, this.downButton, this.feedbackStatus),
      this.feedbackForm);
  }

  /** Show the text received so far (at most once per frame). */
  update(text) {
    this.answer = text;
    if (!this.frame) {
      this.frame = window.requestAnimationFrame(() => {
        this.frame = 0;
        this.render();
      });
    }
  }

  /** The final answer: its text is the checked one and replaces whatever was streamed. */
  finish(reply) {
    this.answer = reply.answer ?? '';
    this.citations = Array.isArray(reply.citations) ? reply.citations : [];
    this.grounded = reply.grounded !== false;
    this.mode = reply.mode || '';
    this.withheld = Boolean(reply.withheld);
    this.language = reply.language === 'ko' || reply.language === 'en' ? reply.language : '';
    // Older stored answers carry no `refused`: an ungrounded answer without sources is one.
    this.refused = typeof reply.refused === 'boolean'
      ? reply.refused
      : !this.grounded && !this.citations.length && !this.withheld;
    this.groundedness = typeof reply.groundedness === 'number' ? reply.groundedness : null;
    this.sentences = Array.isArray(reply.sentences) ? reply.sentences : [];
    this.droppedCitations = Number(reply.dropped_citations) || 0;
    this.messageId = reply.message_id ?? reply.id ?? null;
    this.status = 'done';
    this.render();
  }

  end(status, error = '') {
    this.status = status;
    this.error = error;
    this.render();
  }

  /** The answer's language: the server's, or the question's until the server has said. */
  lang() {
    return this.language || detectLanguage(this.question);
  }

  citationFor(n) {
    return this.citations.find((c) => c.n === n) || null;
  }

  citeButton(n) {
    const citation = this.citationFor(n);
    if (!citation) return h('span', { class: 'cite cite-pending' }, String(n));
    const lang = this.lang();
    const label = tFor(lang, 'chat.citeLabel', { n, title: citationLabel(citation, lang) });
    const warning = citation.suspicious ? tFor(lang, 'chat.suspicious') : '';
    return h('button', {
      type: 'button',
      class: citation.suspicious ? 'cite cite-suspicious' : 'cite',
      dataset: { n: String(n) },
      'aria-label': [label, warning].filter(Boolean).join('. '),
      title: [citationLabel(citation, lang), warning].filter(Boolean).join(' — '),
      onclick: (event) => openCitation(citation, this.answer, event.currentTarget),
    }, String(n));
  }

  /** The checked sentences the sources do not support, each with whether it was removed. */
  unsupportedSentences() {
    const answer = comparable(this.answer);
    return this.sentences
      .filter((sentence) => sentence && sentence.supported === false && String(sentence.text || '').trim())
      .map((sentence) => {
        const text = comparable(sentence.text);
        return { text: String(sentence.text).trim(), removed: !text || !answer.includes(text), core: text };
      });
  }

  renderVerification(lang, unsupported) {
    const checked = this.sentences.length;
    const show = this.status === 'done' && !this.refused && !this.withheld && checked > 0;
    this.verification.hidden = !show;
    if (!show) {
      replace(this.verification);
      delete this.verification.dataset.level;
      return;
    }
    const supported = this.sentences.filter((sentence) => sentence?.supported === true).length;
    const share = this.groundedness ?? supported / checked;
    const percent = Math.round(Math.max(0, Math.min(1, share)) * 100);
    this.verification.dataset.level = supported === checked ? 'full' : supported ? 'partial' : 'none';
    this.verification.dataset.groundedness = String(share);
    replace(this.verification,
      icon(supported === checked ? 'shield' : 'warn'),
      h('span', { class: 'verification-text' }, tFor(lang, 'chat.verified', { supported, total: checked })),
      h('meter', {
        class: 'verification-meter', min: '0', max: '1', low: '0.5', high: '0.99', optimum: '1',
        value: String(Math.max(0, Math.min(1, share))),
        'aria-label': tFor(lang, 'chat.groundedness', { percent }),
      }),
      h('span', { class: 'verification-percent' }, tFor(lang, 'chat.groundedness', { percent })),
      this.droppedCitations > 0
        ? h('span', { class: 'verification-dropped' }, tFor(lang, 'chat.droppedCitations', { n: this.droppedCitations }))
        : null);
    const removed = unsupported.filter((sentence) => sentence.removed).length;
    if (removed) this.verification.append(h('span', { class: 'verification-removed' },
      tFor(lang, 'chat.removedCount', { n: removed })));
  }

  renderUnsupported(lang, unsupported) {
    const show = this.status === 'done' && !this.withheld && unsupported.length > 0;
    this.unsupported.hidden = !show;
    if (!show) {
      replace(this.unsupported);
      return;
    }
    const headingId = `${this.commentId}-unsupported`;
    this.unsupported.setAttribute('aria-labelledby', headingId);
    replace(this.unsupported,
      h('h4', { class: 'unsupported-heading', id: headingId }, icon('warn', 16),
        h('span', {}, tFor(lang, 'chat.unsupportedTitle', { n: unsupported.length }))),
      h('p', { class: 'unsupported-explanation' }, tFor(lang, 'chat.unsupportedText')),
      h('ul', { class: 'unsupported-list' }, unsupported.map((sentence) => h('li', {
        class: 'unsupported-sentence', dataset: { removed: String(sentence.removed) },
      },
      sentence.removed ? h('del', { class: 'sentence-text' }, sentence.text) : h('span', { class: 'sentence-text' }, sentence.text),
      ' ',
      h('span', { class: 'badge badge-warn' },
        tFor(lang, sentence.removed ? 'chat.sentenceRemoved' : 'chat.sentenceKept'))))));
    // A sentence that stayed in the answer is marked where it stands.
    for (const sentence of unsupported.filter((item) => !item.removed)) {
      for (const block of this.body.querySelectorAll('p, li, td, th, blockquote')) {
        if (block.querySelector('p, li')) continue;
        if (!comparable(textWithoutCites(block)).includes(sentence.core.replace(/\s*$/, ''))) continue;
        block.classList.add('contains-unsupported');
        block.setAttribute('title', tFor(lang, 'chat.unsupportedMark'));
      }
    }
  }

  render() {
    if (this.frame) {
      window.cancelAnimationFrame(this.frame);
      this.frame = 0;
    }
    const streaming = this.status === 'streaming';
    this.answerBox.dataset.state = this.status;
    this.answerBox.setAttribute('aria-busy', String(streaming));

    const lang = this.lang();
    this.content.setAttribute('lang', lang);
    this.answerBox.dataset.language = lang;
    this.answerBox.classList.toggle('refused', this.status === 'done' && this.refused);

    const badges = [];
    if (this.status === 'done' && this.refused) {
      badges.push(h('span', { class: 'badge badge-refused' }, tFor(lang, 'chat.refusedBadge')));
    }
    if (this.mode === 'extractive') badges.push(h('span', { class: 'badge' }, tFor(lang, 'chat.modeExtractive')));
    if (this.status === 'stopped') badges.push(h('span', { class: 'badge badge-muted' }, tFor(lang, 'chat.stopped')));
    replace(this.meta, badges);

    const notices = [];
    if (this.status === 'failed') {
      notices.push(h('p', { class: 'notice notice-error', role: 'alert' }, icon('warn'), h('span', {}, this.error)));
    } else if (this.withheld) {
      notices.push(h('p', { class: 'notice notice-warn not-grounded', role: 'note' }, icon('warn'),
        h('span', {}, tFor(lang, 'chat.withheld'))));
    } else if (this.status === 'done' && this.refused) {
      notices.push(h('p', { class: 'notice notice-refusal refusal', role: 'note' }, icon('file'),
        h('span', {}, h('strong', {}, tFor(lang, 'chat.refusedTitle')), ' ', tFor(lang, 'chat.refusedText'))));
    } else if (this.status === 'done' && !this.grounded) {
      notices.push(h('p', { class: 'notice notice-warn not-grounded', role: 'note' }, icon('warn'),
        h('span', {}, h('strong', {}, tFor(lang, 'chat.notGroundedTitle')), ' ', tFor(lang, 'chat.notGrounded'))));
    }
    const suspicious = this.citations.filter((citation) => citation.suspicious);
    if (this.status === 'done' && suspicious.length) {
      notices.push(h('p', { class: 'notice notice-warn suspicious-notice', role: 'note' }, icon('warn'),
        h('span', {}, tFor(lang, 'chat.suspiciousNotice', { sources: suspicious.map((c) => `[${c.n}]`).join(', ') }))));
    }
    replace(this.notice, notices);

    const content = renderMarkdown(this.answer, {
      citation: (n) => this.citeButton(n),
      image: (alt) => h('span', { class: 'md-image-removed' }, tFor(lang, 'chat.imageRemoved', { alt: alt || '' }).trim()),
    });
    if (streaming) content.append(h('span', { class: 'typing', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')));
    replace(this.body, content);

    const unsupported = this.status === 'done' ? this.unsupportedSentences() : [];
    this.renderVerification(lang, unsupported);
    this.renderUnsupported(lang, unsupported);

    if (this.citations.length) {
      replace(this.sources,
        h('h4', { class: 'sources-heading' }, tFor(lang, 'chat.sources')),
        h('ol', { class: 'source-list' }, this.citations.map((citation) => h('li', {
          class: citation.suspicious ? 'source suspicious' : 'source',
        },
          h('button', {
            type: 'button',
            class: 'source-button',
            dataset: { n: String(citation.n) },
            onclick: (event) => openCitation(citation, this.answer, event.currentTarget),
          }, h('span', { class: 'source-n' }, String(citation.n)), h('span', {}, citationLabel(citation, lang))),
          citation.suspicious
            ? h('span', { class: 'suspicious-warning', role: 'note' }, icon('warn', 14),
              h('span', {}, tFor(lang, 'chat.suspicious')))
            : null))));
    } else {
      replace(this.sources);
    }

    const finished = this.status === 'done' || this.status === 'stopped';
    this.actions.hidden = !finished || !this.answer;
    const rateable = this.status === 'done' && this.messageId !== null && !this.withheld;
    this.upButton.hidden = !rateable;
    this.downButton.hidden = !rateable;
    this.upButton.setAttribute('aria-pressed', String(this.rating === 1));
    this.downButton.setAttribute('aria-pressed', String(this.rating === -1));
  }

  copyText() {
    const lines = [this.answer.trim()];
    if (this.citations.length) {
      lines.push('', ...this.citations.map((c) => `[${c.n}] ${citationLabel(c, this.lang())}`));
    }
    return lines.join('\n');
  }

  async copy() {
    const text = this.copyText();
    let copied = false;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch {
      const scratch = h('textarea', { class: 'offscreen', readonly: true, 'aria-hidden': 'true' });
      scratch.value = text;
      document.body.append(scratch);
      scratch.select();
      try { copied = document.execCommand('copy'); } catch { copied = false; }
      scratch.remove();
      this.copyButton.focus();
    }
    this.feedbackStatus.textContent = copied ? t('chat.copied') : t('chat.copyFailed');
  }

  async rate(rating) {
    if (this.messageId === null) return;
    try {
      await api(`/api/v1/messages/${enc(this.messageId)}/feedback`, { method: 'POST', json: { rating } });
      this.rating = rating;
      this.feedbackForm.hidden = false;
      this.feedbackStatus.textContent = t('chat.feedbackThanks');
      this.render();
      this.commentBox.focus();
    } catch (error) {
      this.feedbackStatus.textContent = errorMessage(error);
    }
  }

  async sendComment(event) {
    event.preventDefault();
    const comment = this.commentBox.value.trim();
    if (!comment || !this.rating) return;
    try {
      await api(`/api/v1/messages/${enc(this.messageId)}/feedback`, {
        method: 'POST', json: { rating: this.rating, comment },
      });
      this.feedbackForm.hidden = true;
      this.feedbackStatus.textContent = t('chat.commentThanks');
      this.downButton.focus();
    } catch (error) {
      this.feedbackStatus.textContent = errorMessage(error);
    }
  }
}

function messagesBox() { return $('#messages'); }

function nearBottom() {
  const box = messagesBox();
  return box.scrollHeight - box.scrollTop - box.clientHeight < 120;
}

function scrollToEnd() {
  const box = messagesBox();
  box.scrollTop = box.scrollHeight;
}

function resetMessages() {
  closeCitation();
  state.turns = [];
  replace(messagesBox(), $('#chat-welcome'));
  $('#chat-welcome').hidden = false;
}

function addTurn(turn) {
  $('#chat-welcome').hidden = true;
  state.turns.push(turn);
  messagesBox().append(turn.root);
}

function setStreaming(on) {
  $('#stop').hidden = !on;
  $('#send').disabled = on;
  $('#composer').classList.toggle('busy', on);
}

// ---- conversations ---------------------------------------------------------------------

function renderConversations() {
  const list = $('#conversation-list');
  replace(list, state.conversations.map((conversation) => {
    const current = conversation.id === state.currentId;
    const title = conversation.title || t('chat.untitled');
    return h('li', { class: current ? 'current' : '' },
      h('a', {
        href: `#/chat/${enc(conversation.id)}`,
        class: 'conversation-link',
        'aria-current': current ? 'page' : null,
      }, h('span', { class: 'conversation-title' }, title),
      h('span', { class: 'conversation-date' }, formatDateTime(conversation.updated_at))),
      h('button', {
        type: 'button',
        class: 'icon-button conversation-delete',
        'aria-label': t('chat.deleteConversation', { title }),
        title: t('chat.deleteConversation', { title }),
        onclick: () => deleteConversation(conversation),
      }, icon('trash', 16)));
  }));
  $('#conversation-empty').hidden = state.conversations.length > 0;
}

export async function refreshConversations() {
  try {
    const reply = await api('/api/v1/conversations');
    state.conversations = reply.conversations || [];
    renderConversations();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) toast(errorMessage(error));
  }
}

async function deleteConversation(conversation) {
  const title = conversation.title || t('chat.untitled');
  if (!(await confirmDialog(t('chat.confirmDelete', { title }), t('common.delete')))) return;
  try {
    await api(`/api/v1/conversations/${enc(conversation.id)}`, { method: 'DELETE' });
    if (conversation.id === state.currentId) newConversation();
    await refreshConversations();
    announce(t('chat.deleted'));
    $('#new-chat').focus();
  } catch (error) {
    toast(errorMessage(error));
  }
}

async function loadConversation(id) {
  stop();
  const ticket = ++state.loading;
  state.currentId = id;
  renderConversations();
  resetMessages();
  try {
    const conversation = await api(`/api/v1/conversations/${enc(id)}`);
    if (ticket !== state.loading) return;
    for (const message of conversation.messages || []) {
      const turn = new Turn(message.question);
      turn.finish(message);
      addTurn(turn);
    }
    scrollToEnd();
  } catch (error) {
    if (ticket !== state.loading) return;
    state.currentId = null;
    renderConversations();
    toast(errorMessage(error));
    window.location.hash = '#/chat';
  }
}

function newConversation() {
  stop();
  state.currentId = null;
  state.loading += 1;
  resetMessages();
  renderConversations();
  if (window.location.hash !== '#/chat') window.history.replaceState(null, '', '#/chat');
}

// ---- asking ----------------------------------------------------------------------------

function stop() {
  if (state.controller) state.controller.abort();
}

async function ask(question) {
  if (state.controller) return;
  const turn = new Turn(question);
  addTurn(turn);
  scrollToEnd();
  const controller = new AbortController();
  state.controller = controller;
  setStreaming(true);
  let text = '';
  let reply = null;
  try {
    const body = { message: question, stream: true };
    if (state.currentId) body.conversation_id = state.currentId;
    const response = await api('/api/v1/chat', { method: 'POST', json: body, signal: controller.signal, raw: true });
    for await (const event of readEvents(response)) {
      const follow = nearBottom();
      const data = JSON.parse(event.data);
      if (event.event === 'delta') {
        text += data.text || '';
        turn.update(text);
      } else if (event.event === 'answer') {
        reply = data;
        turn.finish(data);
      } else if (event.event === 'error') {
        turn.answer = text;
        turn.end('failed', errorMessage(new ApiError(500, data?.error?.code, data?.error?.message)));
      }
      if (follow) scrollToEnd();
    }
    if (!reply && turn.status === 'streaming') turn.end('failed', t('chat.incomplete'));
  } catch (error) {
    turn.answer = text;
    if (error?.name === 'AbortError') turn.end('stopped');
    else turn.end('failed', errorMessage(error));
  } finally {
    if (state.controller === controller) state.controller = null;
    setStreaming(false);
  }
  if (turn.status === 'stopped') announce(t('chat.stopped'));
  else if (reply && turn.refused) announce(tFor(turn.lang(), 'chat.refusedTitle'));
  else if (reply) announce(reply.grounded === false ? tFor(turn.lang(), 'chat.notGroundedTitle') : t('chat.answered'));
  if (reply?.conversation_id) {
    const isNew = reply.conversation_id !== state.currentId;
    state.currentId = reply.conversation_id;
    if (isNew) window.history.replaceState(null, '', `#/chat/${enc(reply.conversation_id)}`);
  }
  await refreshConversations();
}

// ---- wiring ----------------------------------------------------------------------------

export function initChat() {
  const composer = $('#composer');
  const input = $('#question');
  composer.addEventListener('submit', (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question || state.controller) return;
    input.value = '';
    ask(question);
  });
  input.addEventListener('keydown', (event) => {
    // Enter sends; Shift+Enter breaks the line; nothing happens while an IME is composing
    // (Korean input confirms syllables with Enter).
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  $('#stop').addEventListener('click', () => {
    stop();
    input.focus();
  });
  $('#new-chat').addEventListener('click', () => {
    newConversation();
    input.focus();
  });
  onLanguageChange(() => {
    renderConversations();
    for (const turn of state.turns) {
      translate(turn.root);
      turn.render();
    }
  });
}

/** Show the chat view, on conversation `id` or a new one. */
export async function showChat(id) {
  if (id && id !== state.currentId) await loadConversation(id);
  else if (!id && state.currentId) window.history.replaceState(null, '', `#/chat/${enc(state.currentId)}`);
  refreshConversations();
}

/** Forget everything (sign-out). */
export function resetChat() {
  stop();
  state.conversations = [];
  state.currentId = null;
  resetMessages();
  renderConversations();
}
