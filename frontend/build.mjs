// Bundle the web page: one ES module per page (CodeMirror and the sync engine inside), one
// stylesheet, and the pages' HTML. Output goes to dist/, which is not committed: `make run`
// and `make test` rebuild it when a source is newer than dist/.built.
//
//   node build.mjs           build once (minified, with source maps)
//   node build.mjs --watch   rebuild on every change (for working on the page)
import { copyFile, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
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
  bundle: true,
  format: "esm",
  target: ["es2022", "chrome110", "firefox115", "safari16"],
  minify: !watch,
  sourcemap: "linked",
  legalComments: "linked",
  logLevel: "info",
  metafile: true,
};

async function copyPages() {
  const html = join(root, "src", "html");
  for (const name of await readdir(html)) {
    if (name.endsWith(".html")) await copyFile(join(html, name), join(dist, name));
    else if (name.endsWith(".svg")) await copyFile(join(html, name), join(dist, "assets", name));
  }
  await writeFile(join(dist, ".built"), `${new Date().toISOString()}\n`);
}

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
if (watch) {
  const context = await esbuild.context({
    ...options,
    plugins: [{ name: "pages", setup: (build) => build.onEnd(copyPages) }],
  });
  await context.watch();
} else {
  const result = await esbuild.build(options);
  await copyPages();
  const bytes = Object.entries(result.metafile.outputs)
    .filter(([file]) => !file.endsWith(".map") && !file.endsWith(".txt"))
    .map(([file, { bytes }]) => `${file.replace(/^.*dist\//, "dist/")} ${(bytes / 1024).toFixed(0)} KiB`);
  console.log(`built ${bytes.join(", ")}`);
}
