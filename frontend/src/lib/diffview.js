/**
 * A revision's change as render segments: the server's diff chunks (GET …/diff), merged and
 * checked, ready to become text nodes, `<ins>` and `<del>`.
 * @module
 */

/**
 * @typedef {"equal" | "insert" | "delete"} DiffOp
 * @typedef {{op: DiffOp, text: string}} DiffChunk
 * @typedef {object} Segment
 * @property {DiffOp} op
 * @property {string} text
 * @property {boolean} blank  only whitespace: invisible when highlighted unless marked
 */

const OPS = new Set(["equal", "insert", "delete"]);

/**
 * Segments in order, with empty chunks dropped and neighbours of the same kind merged.
 * Anything that is not a diff chunk is refused, naming it: the page shows the message.
 * @param {unknown} diffs
 * @returns {Segment[]}
 */
export function diffSegments(diffs) {
  if (!Array.isArray(diffs)) throw new TypeError("the diff is not a list of chunks");
  /** @type {Segment[]} */
  const segments = [];
  diffs.forEach((chunk, index) => {
    if (!chunk || !OPS.has(chunk.op) || typeof chunk.text !== "string") {
      throw new TypeError(`diff chunk ${index} is not {op, text}`);
    }
    if (!chunk.text) return;
    const last = segments[segments.length - 1];
    if (last && last.op === chunk.op) {
      last.text += chunk.text;
      last.blank = isBlank(last.text);
    } else {
      segments.push({ op: chunk.op, text: chunk.text, blank: isBlank(chunk.text) });
    }
  });
  return segments;
}

/** @param {string} text */
function isBlank(text) {
  return !/\S/u.test(text);
}

/**
 * The text on one side of a diff: "old" is equal + deleted, "new" is equal + inserted.
 * @param {Segment[] | DiffChunk[]} segments
 * @param {"old" | "new"} side
 */
export function sideText(segments, side) {
  const skip = side === "old" ? "insert" : "delete";
  return segments
    .filter((s) => s.op !== skip)
    .map((s) => s.text)
    .join("");
}

/**
 * How much changed, in code points (as the API counts).
 * @param {Segment[] | DiffChunk[]} segments
 */
export function changeSize(segments) {
  let inserted = 0;
  let deleted = 0;
  for (const s of segments) {
    const length = [...s.text].length;
    if (s.op === "insert") inserted += length;
    else if (s.op === "delete") deleted += length;
  }
  return { inserted, deleted };
}

/**
 * "+12 −3", "+5", "no change".
 * @param {{inserted: number, deleted: number}} size
 */
export function changeLabel({ inserted, deleted }) {
  const parts = [];
  if (inserted) parts.push(`+${inserted}`);
  if (deleted) parts.push(`\u2212${deleted}`);
  return parts.length ? parts.join(" ") : "no change";
}
