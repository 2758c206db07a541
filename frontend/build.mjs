// Bundle the web page: one ES module per page (CodeMirror and the sync engine inside), one
// stylesheet, and the pages' HTML. Output goes to dist/, which is not committed: `make run`
// and `make test` rebuild it when a source is newer than dist/.built.
//
// Bundles and the stylesheet get content-hashed names (editor-5KX2Q7ZD.js), and the pages' HTML
// is rewritten to name them, so the server can let browsers keep them for a year
// (app/http/pages.py). Swagger UI and ReDoc are copied to dist/assets/vendor/ so /docs and
// /redoc work offline. Every text asset is also written precompressed (.br, .gz) for the server
// to send as it is.
//
//   node build.mjs           build once (minified, with source maps)
//   node build.mjs --watch   rebuild on every change (for working on the page)
import { copyFile, mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { basename, dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { brotliCompress, constants, gzip } from "node:zlib";
import * as esbuild from "esbuild";

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, "dist");
const watch = process.argv.includes("--watch");

const pages = ["documents", "editor", "history", "login", "account", "share"];

/** @type {import("esbuild").BuildOptions} */
const options = {
  absWorkingDir: root,
  entryPoints: {
    ...Object.fromEntries(pages.map((page) => [page, `src/pages/${page}.js`])),
    style: "src/styles/main.css",
  },
  outdir: join(dist, "assets"),
  entryNames: "[name]-[hash]",
  bundle: true,
  format: "esm",
  target: ["es2022", "chrome110", "firefox115", "safari16"],
  minify: !watch,
  sourcemap: "linked",
  legalComments: "linked",
  logLevel: "info",
  metafile: true,
};

// The API docs' pages (FastAPI's get_swagger_ui_html and get_redoc_html) load these by name.
const require = createRequire(import.meta.url);
const vendor = {
  "swagger-ui-bundle.js": require.resolve("swagger-ui-dist/swagger-ui-bundle.js"),
  "swagger-ui.css": require.resolve("swagger-ui-dist/swagger-ui.css"),
  "swagger-ui-favicon.png": require.resolve("swagger-ui-dist/favicon-32x32.png"),
  "redoc.standalone.js": require.resolve("redoc/bundles/redoc.standalone.js"),
};

/**
 * What each page's HTML names (`/assets/editor.js`) mapped to the file esbuild wrote
 * (`/assets/editor-5KX2Q7ZD.js`).
 * @param {import("esbuild").Metafile} metafile
 */
function hashedNames(metafile) {
  /** @type {Map<string, string>} */
  const names = new Map();
  for (const [file, output] of Object.entries(metafile.outputs)) {
    if (!output.entryPoint) continue;
    const hashed = basename(file);
    const plain = hashed.replace(/-[A-Z2-7]{8}(?=\.[a-z]+$)/, "");
    names.set(`/assets/${plain}`, `/assets/${hashed}`);
  }
  return names;
}

/** @param {import("esbuild").Metafile} metafile */
async function copyPages(metafile) {
  const names = hashedNames(metafile);
  const html = join(root, "src", "html");
  for (const name of await readdir(html)) {
    if (name.endsWith(".html")) {
      const page = await readFile(join(html, name), "utf8");
      const rewritten = page.replace(/"(\/assets\/[^"]+\.(?:js|css))"/g, (_, path) => {
        const hashed = names.get(path);
        // A page naming a bundle the build does not make would fail only in a browser.
        if (hashed === undefined) throw new Error(`${name} loads ${path}, which the build does not make`);
        return `"${hashed}"`;
      });
      await writeFile(join(dist, name), rewritten);
    } else if (name.endsWith(".svg")) await copyFile(join(html, name), join(dist, "assets", name));
  }
  await mkdir(join(dist, "assets", "vendor"), { recursive: true });
  for (const [name, source] of Object.entries(vendor)) {
    await copyFile(source, join(dist, "assets", "vendor", name));
  }
  await writeFile(join(dist, ".built"), `${new Date().toISOString()}\n`);
}

const COMPRESSIBLE = new Set([".js", ".css", ".svg", ".map", ".txt", ".json"]);

/** Write `file.br` and `file.gz` beside every text asset, where they are smaller. */
async function precompress(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      await precompress(path);
      continue;
    }
    if (!COMPRESSIBLE.has(extname(entry.name))) continue;
    const bytes = await readFile(path);
    const br = await promisify(brotliCompress)(bytes, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
        [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
      },
    });
    const gz = await promisify(gzip)(bytes, { level: 9 });
    if (br.length < bytes.length) await writeFile(`${path}.br`, br);
    if (gz.length < bytes.length) await writeFile(`${path}.gz`, gz);
  }
}

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
if (watch) {
  // Uncompressed while watching: the server falls back to sending the files as they are.
  const context = await esbuild.context({
    ...options,
    plugins: [
      {
        name: "pages",
        setup: (build) =>
          build.onEnd(async (result) => {
            if (result.metafile) await copyPages(result.metafile);
          }),
      },
    ],
  });
  await context.watch();
} else {
  const result = await esbuild.build(options);
  await copyPages(result.metafile);
  await precompress(join(dist, "assets"));
  const bytes = Object.entries(result.metafile.outputs)
    .filter(([file]) => !file.endsWith(".map") && !file.endsWith(".txt"))
    .map(([file, { bytes }]) => `${file.replace(/^.*dist\//, "dist/")} ${(bytes / 1024).toFixed(0)} KiB`);
  console.log(`built ${bytes.join(", ")}`);
}
