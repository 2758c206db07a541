import assert from "node:assert/strict";
import { test } from "node:test";

import { inlines, parseMarkdown, safeHref } from "../src/lib/markdown.js";

test("blocks: headings, paragraphs joined across lines, lists, quotes, code and rules", () => {
  const tree = parseMarkdown(
    "# Plan\n\nFirst line\nsame paragraph.\n\n- one\n- two\n\n1. first\n2. second\n\n> quoted\n> more\n\n```\n<b>as is</b>\n```\n\n---\n",
  );
  assert.deepEqual(
    tree.map((b) => b.type),
    ["heading", "paragraph", "list", "list", "quote", "pre", "rule"],
  );
  assert.deepEqual(tree[0], { type: "heading", level: 1, children: [{ type: "text", text: "Plan" }] });
  assert.deepEqual(tree[1], { type: "paragraph", children: [{ type: "text", text: "First line same paragraph." }] });
  assert.equal(/** @type {any} */ (tree[2]).ordered, false);
  assert.equal(/** @type {any} */ (tree[3]).items.length, 2);
  assert.equal(/** @type {any} */ (tree[3]).ordered, true);
  assert.deepEqual(/** @type {any} */ (tree[4]).children[0].children, [{ type: "text", text: "quoted more" }]);
  assert.deepEqual(tree[5], { type: "pre", text: "<b>as is</b>" }); // text, never HTML
});

test("inlines: code, strong, emphasis, links and escapes", () => {
  assert.deepEqual(inlines("a `x*y` **b** *c* [d](https://e.org) \\*f"), [
    { type: "text", text: "a " },
    { type: "code", text: "x*y" },
    { type: "text", text: " " },
    { type: "strong", children: [{ type: "text", text: "b" }] },
    { type: "text", text: " " },
    { type: "em", children: [{ type: "text", text: "c" }] },
    { type: "text", text: " " },
    { type: "link", href: "https://e.org", children: [{ type: "text", text: "d" }] },
    { type: "text", text: " *f" },
  ]);
});

test("links that could run code or leave the page's terms are only text", () => {
  for (const bad of ["javascript:alert(1)", "JAVASCRIPT:x", "data:text/html,x", "vbscript:x", "//evil.example"]) {
    assert.equal(safeHref(bad), null, bad);
  }
  for (const bad of ["javascript:void0", "JAVASCRIPT:x", "data:text/html,x", "//evil.example"]) {
    assert.deepEqual(inlines(`[click](${bad})`), [{ type: "text", text: "click" }], bad);
  }
  for (const good of ["https://a.org/x?y=1", "http://a", "mailto:a@b.c", "notes.md", "/d/x", "#top"]) {
    assert.equal(safeHref(good), good);
  }
});

test("HTML in the text stays text", () => {
  assert.deepEqual(parseMarkdown("<script>alert(1)</script>"), [
    { type: "paragraph", children: [{ type: "text", text: "<script>alert(1)</script>" }] },
  ]);
});
