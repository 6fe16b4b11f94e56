async () => {
  // Evaluated in the page by test_webui.py: the UI's own modules on hand-made inputs.
  const { renderMarkdown, safeHref } = await import('/ui/js/markdown.js');
  const { parseEventBlock, readEvents } = await import('/ui/js/sse.js');
  const { citedSentences } = await import('/ui/js/citations.js');
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

  const extractive = render([
    'Extracted from your documents (no language model is configured):',
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
    'snake_case_name stays',
  ].join('\n'));
  const hostile = render([
    '<script>window.__pwned=1</script> <img src=x onerror="window.__pwned=2">',
    '[a](javascript:window.__pwned=3) [b](JaVaScRiPt:alert(1)) [c](//evil.example/x)',
    '[d](https://evil.example) [e](data:text/html,hi) [f](vbscript:x)',
    '![g](http://evil.example/p.png) ![](https://evil.example/q.png)',
  ].join('\n'));
  document.body.append(hostile);

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

  return {
    extractive: [count(extractive, 'blockquote p'), count(extractive, '.cite'), text(extractive, 'p')],
    rich: [
      text(rich, 'h3'), count(rich, 'ul li'), count(rich, 'ol li'), text(rich, 'strong'), text(rich, 'em'),
      text(rich, 'code'), rich.querySelector('a')?.getAttribute('href'), text(rich, 'pre code'), count(rich, 'b'),
      rich.textContent.includes('snake_case_name'),
    ],
    hostile: [
      count(hostile, 'script, img, a, iframe'), count(hostile, '.md-link-removed'), count(hostile, '.dropped'),
      hostile.textContent.includes('<script>'),
    ],
    hrefs: [
      '/x?y=1#z', 'javascript:alert(1)', ' JAVASCRIPT:alert(1)', '//evil.example', 'https://evil.example/',
      'http:evil.example', '\\evil.example\\x', '\\\\evil.example/x', 'mailto:a@b.c',
    ].map((href) => safeHref(href)),
    allowed: safeHref('https://wiki.corp.example/page', ['wiki.corp.example']),
    block: parseEventBlock(': comment\nevent: delta\ndata: a\ndata: b'),
    events,
    cited: citedSentences('First fact. Second fact [1]. Third fact [2].\n> Quoted line here [1, 2]', 1),
    pwned: window.__pwned ?? null,
  };
}
