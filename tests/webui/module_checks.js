async () => {
  // Evaluated in the page by test_webui.py: the UI's own modules on hand-made inputs.
  // Every HTML-parsing entry point of the DOM records its use while they run.
  const sinks = [];
  const spy = (owner, name) => {
    const descriptor = Object.getOwnPropertyDescriptor(owner, name);
    if (descriptor?.set) {
      Object.defineProperty(owner, name, {
        ...descriptor,
        set(value) { sinks.push(name); return descriptor.set.call(this, value); },
      });
    } else if (typeof descriptor?.value === 'function') {
      const original = descriptor.value;
      owner[name] = function recorded(...args) { sinks.push(name); return original.apply(this, args); };
    }
  };
  spy(Element.prototype, 'innerHTML');
  spy(Element.prototype, 'outerHTML');
  spy(ShadowRoot.prototype, 'innerHTML');
  spy(Element.prototype, 'insertAdjacentHTML');
  spy(Element.prototype, 'setHTMLUnsafe');
  spy(Document.prototype, 'write');
  spy(Document.prototype, 'writeln');
  spy(Range.prototype, 'createContextualFragment');
  spy(DOMParser.prototype, 'parseFromString');

  const { renderMarkdown, safeHref, markdownAvailable } = await import('/ui/js/markdown.js');
  const { parseEventBlock, readEvents } = await import('/ui/js/sse.js');
  const { citedSentences, highlightPassage } = await import('/ui/js/citations.js');
  const { detectLanguage, tFor } = await import('/ui/js/i18n.js');
  const make = (tag, className, text) => Object.assign(document.createElement(tag), { className, textContent: text });
  const render = (text) => {
    const box = document.createElement('div');
    box.append(renderMarkdown(text, {
      citation: (n) => make('button', 'cite', String(n)),
      image: (alt) => make('span', 'dropped', alt),
    }));
    return box;
  };
  const text = (root, selector) => root.querySelector(selector)?.textContent;
  const count = (root, selector) => root.querySelectorAll(selector).length;
  const tags = (root) => [...root.children].map((el) => el.tagName.toLowerCase());

  const extractive = render([
    '문서에서 발췌한 내용:',
    '',
    '> Full-time employees receive 15 days of leave. [1]',
    '> Requests go through the HR portal [1, 2]',
  ].join('\n'));
  const rich = render([
    '# Title', '',
    '- **bold** and *em* and `code`',
    '- [doc](/api/v1/documents/d1/content)', '',
    '1. one', '2. two', '',
    '```', '<b>kept as text</b>', '```',
    'snake_case_name stays ~~gone~~',
  ].join('\n'));
  const table = render([
    '| Item | Limit |',
    '|:-----|------:|',
    '| Taxi [1] | **30,000** KRW |',
    '| Hotel | 150,000 KRW [2] |',
  ].join('\n'));
  const hostile = render([
    '<script>window.__pwned=1</script> <img src=x onerror="window.__pwned=2">',
    '[a](javascript:window.__pwned=3) [b](JaVaScRiPt:alert(1)) [c](//evil.example/x)',
    '[d](https://evil.example) [e](data:text/html,hi) [f](vbscript:x) [g](http://evil.example/t)',
    '![h](http://evil.example/p.png) ![](https://evil.example/q.png) <https://evil.example/auto>',
    '',
    'See [1] and [2].',
    '',
    '[1]: https://evil.example/ref',
  ].join('\n'));
  document.body.append(hostile);
  const deep = render(`${'> '.repeat(300)}deep ${'*'.repeat(500)}`);
  const inlineHtml = render('a <b onclick="window.__pwned=4">b</b> <!-- c --> &lt;i&gt;');

  // Two network reads, the first ending inside a Korean syllable and a CRLF event after it.
  const head = 'event: delta\ndata: {"text":"';
  const bytes = new TextEncoder().encode(`${head}안녕"}\n\nevent: answer\r\ndata: {"a":1}\r\ndata: 2\r\n\r\n`);
  const cut = new TextEncoder().encode(head).length + 1;
  const stream = new ReadableStream({
    start(controller) {
      controller.enqueue(bytes.slice(0, cut));
      controller.enqueue(bytes.slice(cut));
      controller.close();
    },
  });
  const events = [];
  for await (const event of readEvents(new Response(stream))) events.push(event);

  const marks = (snippet, span) => {
    const box = document.createElement('div');
    box.append(highlightPassage(snippet, 'An unrelated answer sentence [1].', 1, span));
    return [...box.querySelectorAll('mark')].map((mark) => mark.textContent);
  };

  return {
    library: markdownAvailable(),
    extractive: [count(extractive, 'blockquote p'), count(extractive, '.cite'), text(extractive, 'p')],
    rich: [
      text(rich, 'h3'), count(rich, 'ul li'), count(rich, 'ol li'), text(rich, 'strong'), text(rich, 'em'),
      text(rich, 'code'), rich.querySelector('a')?.getAttribute('href'), text(rich, 'pre code'), count(rich, 'b'),
      rich.textContent.includes('snake_case_name'), text(rich, 's'),
    ],
    richBlocks: tags(rich),
    table: [
      count(table, '.table-wrap > table'), [...table.querySelectorAll('th')].map((th) => th.textContent),
      count(table, 'tbody tr'), count(table, 'td .cite'), text(table, 'td strong'),
      [...table.querySelectorAll('th')].map((th) => th.className),
    ],
    hostile: [
      count(hostile, 'script, img, a, iframe'), count(hostile, '.md-link-removed'), count(hostile, '.dropped'),
      hostile.textContent.includes('<script>'), count(hostile, '.cite'),
      hostile.textContent.includes('https://evil.example/auto'),
    ],
    deep: [count(deep, 'blockquote') >= 1, count(deep, 'blockquote') <= 20],
    inlineHtml: [count(inlineHtml, 'b'), inlineHtml.textContent],
    hrefs: [
      '/x?y=1#z', 'javascript:alert(1)', ' JAVASCRIPT:alert(1)', '//evil.example', 'https://evil.example/',
      'http:evil.example', '\\evil.example\\x', '\\\\evil.example/x', 'mailto:a@b.c',
      `${window.location.origin}/ui/index.html`, 'https://wiki.corp.example/page',
    ].map((href) => safeHref(href)),
    spans: [
      marks('Alpha beta gamma. Delta epsilon.', [6, 16]),
      marks('😀 ab\n\ncd ef', [2, 8]), // offsets count code points, as the server does
      marks('Short passage here.', [40, 50]), // outside the passage: the whole passage is marked
      marks('Short passage here.', null),
    ],
    languages: [detectLanguage('연차는 며칠인가요?'), detectLanguage('How many days?'), detectLanguage('HR 포털에서 신청')],
    labels: [tFor('ko', 'chat.refusedTitle'), tFor('en', 'chat.refusedTitle')],
    block: parseEventBlock(': comment\nevent: delta\ndata: a\ndata: b'),
    events,
    cited: citedSentences('First fact. Second fact [1]. Third fact [2].\n> Quoted line here [1, 2]', 1),
    sinks,
    pwned: window.__pwned ?? null,
  };
}
