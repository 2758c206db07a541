/**
 * Markdown for the side-by-side preview: the common subset (headings, paragraphs, lists,
 * quotes, fenced code, rules; emphasis, strong, code and links inline), parsed into a small
 * tree and built as DOM nodes. No HTML from the text ever reaches the page: everything is a
 * text node or an element made here, and links keep only http, https, mailto and relative
 * addresses. (A document is anyone's to write; the preview must not run what they wrote.)
 * @module
 */

/**
 * @typedef {{type: "text", text: string}
 *   | {type: "code", text: string}
 *   | {type: "em" | "strong", children: Inline[]}
 *   | {type: "link", href: string, children: Inline[]}} Inline
 * @typedef {{type: "heading", level: number, children: Inline[]}
 *   | {type: "paragraph", children: Inline[]}
 *   | {type: "list", ordered: boolean, items: Inline[][]}
 *   | {type: "quote", children: Block[]}
 *   | {type: "pre", text: string}
 *   | {type: "rule"}} Block
 */

const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
const NUMBERED = /^\s{0,3}\d{1,9}[.)]\s+(.*)$/;
const FENCE = /^\s{0,3}(`{3,}|~{3,})/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;

/**
 * @param {string} text
 * @returns {Block[]}
 */
export function parseMarkdown(text) {
  return blocks(text.replace(/\r\n?/g, "\n").split("\n"));
}

/**
 * @param {string[]} lines
 * @returns {Block[]}
 */
function blocks(lines) {
  /** @type {Block[]} */
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === "") {
      i += 1;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const code = [];
      i += 1;
      while (i < lines.length && !lines[i].trimStart().startsWith(fence[1])) code.push(lines[i++]);
      i += 1; // the closing fence (or the end)
      out.push({ type: "pre", text: code.join("\n") });
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      out.push({ type: "heading", level: heading[1].length, children: inlines(heading[2]) });
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      out.push({ type: "rule" });
      i += 1;
      continue;
    }
    if (QUOTE.test(line)) {
      const quoted = [];
      while (i < lines.length && QUOTE.test(lines[i])) quoted.push(/** @type {RegExpExecArray} */ (QUOTE.exec(lines[i++]))[1]);
      out.push({ type: "quote", children: blocks(quoted) });
      continue;
    }
    const ordered = NUMBERED.test(line);
    if (ordered || BULLET.test(line)) {
      const marker = ordered ? NUMBERED : BULLET;
      /** @type {Inline[][]} */
      const items = [];
      while (i < lines.length && marker.test(lines[i])) {
        items.push(inlines(/** @type {RegExpExecArray} */ (marker.exec(lines[i++]))[1]));
      }
      out.push({ type: "list", ordered, items });
      continue;
    }
    const paragraph = [];
    while (
      i < lines.length &&
      lines[i].trim() !== "" &&
      !FENCE.test(lines[i]) &&
      !HEADING.test(lines[i]) &&
      !QUOTE.test(lines[i]) &&
      !BULLET.test(lines[i]) &&
      !NUMBERED.test(lines[i])
    ) {
      paragraph.push(lines[i++].trim());
    }
    out.push({ type: "paragraph", children: inlines(paragraph.join(" ")) });
  }
  return out;
}

/**
 * @param {string} text
 * @returns {Inline[]}
 */
export function inlines(text) {
  /** @type {Inline[]} */
  const out = [];
  let plain = "";
  const flush = () => {
    if (plain) out.push({ type: "text", text: plain });
    plain = "";
  };
  let i = 0;
  while (i < text.length) {
    const rest = text.slice(i);
    let match;
    if ((match = /^`([^`]+)`/.exec(rest))) {
      flush();
      out.push({ type: "code", text: match[1] });
    } else if ((match = /^(\*\*|__)(?=\S)([\s\S]*?\S)\1/.exec(rest))) {
      flush();
      out.push({ type: "strong", children: inlines(match[2]) });
    } else if ((match = /^(\*|_)(?=\S)([\s\S]*?\S)\1/.exec(rest))) {
      flush();
      out.push({ type: "em", children: inlines(match[2]) });
    } else if ((match = /^\[([^\]]+)\]\(([^)\s]*)\)/.exec(rest))) {
      flush();
      const href = safeHref(match[2]);
      if (href === null) out.push(...inlines(match[1]));
      else out.push({ type: "link", href, children: inlines(match[1]) });
    } else if (rest[0] === "\\" && rest.length > 1 && "\\`*_[]()#+-.!>".includes(rest[1])) {
      plain += rest[1];
      i += 2;
      continue;
    } else {
      plain += rest[0];
      i += 1;
      continue;
    }
    i += match[0].length;
  }
  flush();
  return out;
}

/**
 * A link's address if it is safe to follow: http(s), mailto, or relative; null otherwise.
 * @param {string} href
 */
export function safeHref(href) {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(href);
  if (scheme === null) return href.startsWith("//") ? null : href;
  return ["http", "https", "mailto"].includes(scheme[1].toLowerCase()) ? href : null;
}

/**
 * The preview as DOM nodes (text nodes and elements only).
 * @param {Block[]} tree
 * @param {Document} doc
 * @returns {DocumentFragment}
 */
export function renderMarkdown(tree, doc = document) {
  const fragment = doc.createDocumentFragment();
  for (const block of tree) fragment.append(blockNode(block, doc));
  return fragment;
}

/**
 * @param {Block} block
 * @param {Document} doc
 * @returns {Node}
 */
function blockNode(block, doc) {
  switch (block.type) {
    case "heading":
      return withInlines(doc.createElement(`h${block.level}`), block.children, doc);
    case "paragraph":
      return withInlines(doc.createElement("p"), block.children, doc);
    case "list": {
      const list = doc.createElement(block.ordered ? "ol" : "ul");
      for (const item of block.items) list.append(withInlines(doc.createElement("li"), item, doc));
      return list;
    }
    case "quote": {
      const quote = doc.createElement("blockquote");
      for (const child of block.children) quote.append(blockNode(child, doc));
      return quote;
    }
    case "pre": {
      const pre = doc.createElement("pre");
      const code = doc.createElement("code");
      code.textContent = block.text;
      pre.append(code);
      return pre;
    }
    case "rule":
      return doc.createElement("hr");
  }
}

/**
 * @param {HTMLElement} element
 * @param {Inline[]} children
 * @param {Document} doc
 */
function withInlines(element, children, doc) {
  for (const child of children) element.append(inlineNode(child, doc));
  return element;
}

/**
 * @param {Inline} inline
 * @param {Document} doc
 * @returns {Node}
 */
function inlineNode(inline, doc) {
  switch (inline.type) {
    case "text":
      return doc.createTextNode(inline.text);
    case "code": {
      const code = doc.createElement("code");
      code.textContent = inline.text;
      return code;
    }
    case "em":
    case "strong":
      return withInlines(doc.createElement(inline.type), inline.children, doc);
    case "link": {
      const link = doc.createElement("a");
      link.href = inline.href;
      link.rel = "noopener noreferrer nofollow";
      link.target = "_blank";
      return withInlines(link, inline.children, doc);
    }
  }
}
