/**
 * Building the page's DOM safely. Everything from the server or other people (titles, names,
 * text) goes in as text nodes: nothing here ever parses a string as HTML.
 * @module
 */

/**
 * `el("li", {class: "doc", dataset: {id}}, child, "text")`: an element with attributes and
 * children. Strings become text nodes; `on*` functions become listeners.
 * @param {string} tag
 * @param {Record<string, any> | null} [attributes]
 * @param {...(Node | string | number | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function el(tag, attributes = null, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "dataset") Object.assign(element.dataset, value);
    else if (name === "style" && typeof value === "object") {
      for (const [property, v] of Object.entries(value)) element.style.setProperty(property, v);
    } else if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "class") element.className = String(value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** @param {string} id */
export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element;
}

/**
 * Show a message in a status element (text only).
 * @param {HTMLElement} element
 * @param {string} text
 * @param {"info" | "error"} [kind]
 */
export function say(element, text, kind = "info") {
  element.textContent = text;
  element.dataset.kind = kind;
}
