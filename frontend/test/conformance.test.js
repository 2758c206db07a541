// Replays the shared conformance vectors (written by tests/conformance/generate.py from the
// Python engine) against the JavaScript twin. A failure here means the two engines disagree.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { describe, test } from "node:test";

import * as charclass from "../src/sync/charclass.js";
import * as sync from "../src/sync/index.js";

const { ops } = sync;
const VECTORS = new URL("../../tests/conformance/vectors/", import.meta.url);

/** @param {string} name */
const load = (name) => JSON.parse(readFileSync(new URL(name, VECTORS), "utf8"));

/**
 * The JavaScript class for a Python exception name in the vectors.
 * @param {string} name
 */
function errorClass(name) {
  if (name === "ValueError" || name === "IndexError") return RangeError;
  const found = /** @type {Record<string, unknown>} */ (sync)[name];
  assert.ok(typeof found === "function", `no JavaScript error class named ${name}`);
  return /** @type {new (...args: any[]) => Error} */ (found);
}

/**
 * `func()` returns `expected.result`, or throws the class named `expected.error`.
 * @param {{result?: unknown, error?: string}} expected
 * @param {() => unknown} func
 * @param {unknown} context  shown when the check fails
 */
function expect(expected, func, context) {
  let result;
  try {
    result = func();
  } catch (error) {
    const name = expected.error;
    assert.ok(name, `${JSON.stringify(context)}: threw ${error}`);
    assert.ok(error instanceof errorClass(name), `${JSON.stringify(context)}: ${error}`);
    if (error instanceof sync.SyncError) assert.equal(error.name, expected.error);
    return;
  }
  assert.ok(!expected.error, `${JSON.stringify(context)}: returned ${JSON.stringify(result)}`);
  assert.deepEqual(result, expected.result, JSON.stringify(context));
}

test("every vector file is replayed here", () => {
  const known = [
    "authorship.json", // replayed by authorship.test.js
    "checksum.json",
    "intent.json",
    "merge.json",
    "ops.json",
    "patches.json",
    "protocol.json",
    "sessions.json",
    "text.json",
    "unicode.json",
  ];
  const files = readdirSync(VECTORS).filter((name) => name.endsWith(".json"));
  assert.deepEqual(files.sort(), known, "a new vector file needs a replay in this test");
});

describe("text", () => {
  const vectors = load("text.json");

  test("checksums and validation", () => {
    for (const c of vectors.checksum) {
      assert.equal(sync.checksum(c.text), c.checksum, JSON.stringify(c));
      assert.equal(sync.checksumV1(c.text), c.checksum_v1, JSON.stringify(c));
      assert.equal(sync.findInvalid(c.text), c.invalid, JSON.stringify(c));
      if (c.message === undefined) {
        sync.validateText(c.text, { what: "sample" });
      } else {
        assert.throws(() => sync.validateText(c.text, { what: "sample" }), {
          name: "InvalidText",
          message: c.message,
        });
      }
    }
  });

  test("UTF-16 conversion", () => {
    for (const c of vectors.utf16) {
      assert.equal(c.text.length, c.utf16_length);
      for (const [index, expected] of c.to_utf16) {
        expect(expected, () => sync.codepointToUtf16(c.text, index), [c.text, index]);
      }
      for (const [index, expected] of c.to_codepoint) {
        expect(expected, () => sync.utf16ToCodepoint(c.text, index), [c.text, index]);
      }
    }
  });

  test("checksumLength", () => {
    for (const [value, expected] of vectors.checksum_length) {
      expect(expected, () => sync.checksumLength(value), value);
    }
  });
});

describe("checksums", () => {
  const vectors = load("checksum.json");

  test("from scratch, both versions", () => {
    for (const c of vectors.full) {
      assert.equal(sync.checksum(c.text), c.checksum, JSON.stringify(c));
      assert.equal(sync.checksumV1(c.text), c.checksum_v1, JSON.stringify(c));
    }
  });

  test("updated from the change", () => {
    for (const c of vectors.update) {
      const op = ops.normalize(c.op);
      const result = sync.updateChecksum(c.checksum, c.text, op, ops.apply(c.text, op));
      assert.equal(result, c.result, JSON.stringify(c));
    }
  });

  test("versions and matching", () => {
    for (const [value, version] of vectors.version) {
      assert.equal(sync.checksumVersion(value), version, value);
    }
    for (const [text, value, matches] of vectors.matches) {
      assert.equal(sync.checksumMatches(text, value), matches, JSON.stringify([text, value]));
    }
  });

  test("fold, with and without the copy's own checksum", () => {
    for (const c of vectors.fold) {
      const revision = /** @type {import("../src/sync/protocol.js").Revision} */ (
        sync.fromWire(c.revision)
      );
      expect(c, () => sync.fold(c.text, revision, c.known), c);
    }
  });
});

describe("ops", () => {
  const vectors = load("ops.json");
  const o = ops.normalize;

  test("normalize", () => {
    for (const c of vectors.normalize) assert.deepEqual(o(c.op), c.result);
  });

  test("apply", () => {
    for (const c of vectors.apply) expect(c, () => ops.apply(c.text, o(c.op)), c);
  });

  test("compose", () => {
    for (const c of vectors.compose) expect(c, () => ops.compose(o(c.a), o(c.b)), c);
  });

  test("transform in both tie orders", () => {
    for (const c of vectors.transform) {
      if (c.error) {
        expect(c, () => ops.transform(o(c.op), o(c.other)), c);
        continue;
      }
      assert.deepEqual(ops.transform(c.op, c.other), c.other_first, JSON.stringify(c));
      const opFirst = ops.transform(c.op, c.other, { otherFirst: false });
      assert.deepEqual(opFirst, c.op_first, JSON.stringify(c));
    }
  });

  test("invert", () => {
    for (const c of vectors.invert) assert.deepEqual(ops.invert(c.op), c.result);
  });

  test("transformPosition", () => {
    for (const c of vectors.transform_position) {
      const moved = ops.transformPosition(c.position, c.op, { stickLeft: c.stick_left });
      assert.equal(moved, c.result, JSON.stringify(c));
    }
  });

  test("toDiffs and fromDiffs", () => {
    for (const c of vectors.diffs) {
      assert.deepEqual(ops.toDiffs(c.base, c.op), c.diffs, JSON.stringify(c));
      assert.deepEqual(ops.fromDiffs(c.diffs), c.op, JSON.stringify(c));
    }
  });

  test("replace", () => {
    for (const c of vectors.replace) {
      expect(c, () => ops.replace(c.length, c.position, c.delete, c.insert), c);
    }
  });
});

describe("patches", () => {
  const vectors = load("patches.json");

  test("makePatch and formatPatch equal Python's, byte for byte", () => {
    for (const c of vectors.make) {
      const hunks = sync.makePatch(c.text, c.op);
      assert.deepEqual(hunks, c.hunks, JSON.stringify(c));
      assert.equal(sync.formatPatch(hunks), c.patch, JSON.stringify(c));
    }
  });

  test("parsePatch and opFromPatch", () => {
    for (const c of vectors.parse) {
      let hunks;
      try {
        hunks = sync.parsePatch(c.patch);
      } catch (error) {
        assert.ok(c.error, `${JSON.stringify(c.patch)}: threw ${error}`);
        assert.equal(/** @type {Error} */ (error).name, c.error, JSON.stringify(c.patch));
        continue;
      }
      assert.ok(!c.error, `${JSON.stringify(c.patch)} parsed, but Python raises ${c.error}`);
      assert.deepEqual(hunks, c.hunks, JSON.stringify(c.patch));
      expect(
        { error: c.op_error, result: { op: c.op, checks: c.checks } },
        () => {
          const { op, checks } = sync.opFromPatch(hunks, c.base_length);
          const json = checks.map(({ position, text, inResult }) => ({
            position,
            text,
            in_result: inResult,
          }));
          return { op, checks: json };
        },
        c,
      );
    }
  });

  test("applyPatch", () => {
    for (const c of vectors.apply) {
      expect(c, () => sync.applyPatch(c.text, sync.parsePatch(c.patch)), c);
    }
  });
});

test("protocol: fromWire", () => {
  for (const c of load("protocol.json")) {
    expect({ result: c.message, error: c.error }, () => sync.fromWire(c.wire), c.wire);
  }
});

describe("typing intent", () => {
  const vectors = load("intent.json");

  test("laterGoesFirst: the tie-break, for every pair of intents", () => {
    for (const [earlier, later, result] of vectors.tie) {
      assert.equal(sync.laterGoesFirst(earlier, later), result, `${earlier} then ${later}`);
    }
  });

  test("typed: a local change's intent and the run after it", () => {
    for (const c of vectors.typed) {
      const expected = { intent: c.intent, run: c.result };
      assert.deepEqual(sync.typed(c.run, c.op), expected, JSON.stringify(c));
    }
  });

  test("mapRun", () => {
    for (const c of vectors.map_run) {
      assert.deepEqual(sync.mapRun(c.run, c.op), c.result, JSON.stringify(c));
    }
  });
});

describe("merge", () => {
  const vectors = load("merge.json");

  test("changesBetween finds the same operation as Python's diff", () => {
    for (const c of vectors.changes_between) {
      assert.deepEqual(sync.changesBetween(c.old, c.new), c.op, JSON.stringify(c));
    }
  });

  test("rebaseOnto and mergeOnto", () => {
    for (const c of vectors.rebase_onto) {
      assert.deepEqual(sync.rebaseOnto(c.base, c.changes, c.target), c.op, JSON.stringify(c));
      assert.equal(sync.mergeOnto(c.base, c.changes, c.target), c.result, JSON.stringify(c));
    }
  });
});

test("unicode: word characters are Python's, code point by code point", () => {
  const vectors = load("unicode.json");
  assert.equal(
    charclass.UNICODE_VERSION,
    vectors.version,
    "the vectors' Unicode changed: run `node test-support/write-charclass.js` in frontend/",
  );
  assert.deepEqual(charclass.ranges("alnum"), vectors.alnum);
  assert.deepEqual(charclass.ranges("space"), vectors.space);
  /** @param {[number, number][]} ranges */
  const inside = (ranges) => {
    const flags = new Uint8Array(0x110000);
    for (const [start, end] of ranges) flags.fill(1, start, end + 1);
    return flags;
  };
  const alnum = inside(vectors.alnum);
  const space = inside(vectors.space);
  for (let cp = 0; cp < 0x110000; cp++) {
    assert.equal(charclass.isAlnum(cp), alnum[cp] === 1, `isalnum U+${cp.toString(16)}`);
    assert.equal(charclass.isSpace(cp), space[cp] === 1, `isspace U+${cp.toString(16)}`);
  }
});

/** @param {sync.SyncClient} client */
const stateOf = (client) => ({
  text: client.text,
  shadow: client.shadow,
  rev: client.rev,
  state: client.state,
  unconfirmed: client.unconfirmedCount,
});

/**
 * @param {sync.SyncClient} client
 * @param {Record<string, any>} step
 * @returns {unknown}
 */
function runStep(client, step) {
  switch (step.do) {
    case "replace":
      return client.replace(step.position, step.delete, step.insert);
    case "set_text":
      return client.setText(step.text);
    case "edit":
      return client.edit(step.op);
    case "receive":
      return client.receive(/** @type {sync.ServerMessage} */ (sync.fromWire(step.message)));
    case "connect":
      return client.connect();
    case "disconnect":
      return client.disconnect();
    case "resend":
      return client.resend();
    case "flush":
      return client.flush();
    default:
      throw new Error(`unknown session step ${JSON.stringify(step.do)}`);
  }
}

describe("client sessions", () => {
  for (const session of load("sessions.json")) {
    test(session.name, () => {
      const { text, rev, seq } = session.start;
      const client = new sync.SyncClient(session.client, { text, rev, seq });
      session.steps.forEach((/** @type {Record<string, any>} */ step, /** @type {number} */ i) => {
        const where = `step ${i + 1} (${step.do})`;
        let result;
        try {
          result = runStep(client, step);
        } catch (error) {
          assert.equal(/** @type {Error} */ (error).name, step.error, `${where}: ${error}`);
        }
        if (step.error === undefined && "returns" in step) {
          assert.deepEqual(result, step.returns, where);
        }
        const sends = ["connect", "resend", "flush", "receive"].includes(step.do);
        assert.deepEqual(sends && result !== undefined ? result : [], step.out, where);
        assert.deepEqual(stateOf(client), step.after, where);
      });
      const rejected = client.rejected;
      assert.deepEqual({ ...stateOf(client), rejected }, session.final);
    });
  }
});
