// Shrinks WASM modules in place as `wasm-opt -Oz --enable-bulk-memory
// --enable-nontrapping-float-to-int --strip-producers --strip-target-features`
// would, through binaryen's JavaScript API, in one Node.js worker per core.
//
//   node scripts/wasm_opt_all.mjs [--verbose] <binaryen package dir> <file.wasm>...
//
// Why not the wasm-opt command: npm's binaryen runs it as a Node.js program,
// which spends about a second starting up. The split site has ~160 modules,
// most of them a few KB, so starting wasm-opt once per module was three
// quarters of the release build's optimisation step. Here each worker loads
// binaryen once and takes the next module as it finishes one, largest first
// (the main module alone takes most of a core's time).
//
// Prints the total (with --verbose, a line per module too); exits
// non-zero, naming the module, if binaryen cannot read, validate or write one.
// Each module is written beside itself and renamed over it only when complete.
import { readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { basename, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

if (isMainThread) {
  const args = process.argv.slice(2);
  const verbose = args[0] === "--verbose";
  const [binaryenDir, ...files] = verbose ? args.slice(1) : args;
  if (!binaryenDir || files.length === 0) {
    console.error("usage: node scripts/wasm_opt_all.mjs [--verbose] <binaryen package dir> <file.wasm>...");
    process.exit(2);
  }
  const entry = pathToFileURL(join(resolve(binaryenDir), "index.js")).href;
  const queue = files.map((file) => ({ file, bytes: statSync(file).size }));
  queue.sort((a, b) => b.bytes - a.bytes);

  const started = Date.now();
  let before = 0;
  let after = 0;
  let failed = false;
  const workers = Math.max(1, Math.min(availableParallelism(), queue.length));
  const running = [];
  for (let i = 0; i < workers; i++) {
    running.push(
      new Promise((done, fail) => {
        const worker = new Worker(new URL(import.meta.url), { workerData: { entry } });
        const next = () => {
          const job = queue.shift();
          if (job) worker.postMessage(job.file);
          else worker.terminate().then(done);
        };
        worker.on("message", (msg) => {
          if (msg.ready) return next();
          if (msg.error) {
            console.error(`wasm-opt: ${msg.file}: ${msg.error}`);
            failed = true;
            queue.length = 0;
            return worker.terminate().then(done);
          }
          before += msg.before;
          after += msg.after;
          if (verbose) console.log(`  ${basename(msg.file)}: ${msg.before} -> ${msg.after} bytes (${msg.ms} ms)`);
          next();
        });
        worker.on("error", fail);
      }),
    );
  }
  await Promise.all(running);
  if (failed) process.exit(1);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`${files.length} modules: ${before} -> ${after} bytes in ${seconds} s (${workers} workers)`);
} else {
  const { default: binaryen } = await import(workerData.entry);
  // -Oz: optimisation level 2, shrink level 2. Names are left out of what is
  // written (no debug info), as the command does without -g. The command also
  // optimises the Stack IR as it writes the module when optimising; the API
  // does only when asked (without it, ~0.2% larger).
  binaryen.setOptimizeLevel(2);
  binaryen.setShrinkLevel(2);
  binaryen.setDebugInfo(false);
  binaryen.setGenerateStackIR(true);
  binaryen.setOptimizeStackIR(true);
  const wanted = binaryen.Features.BulkMemory | binaryen.Features.NontrappingFPToInt;

  parentPort.on("message", (file) => {
    const t0 = Date.now();
    let module;
    try {
      const input = readFileSync(file);
      module = binaryen.readBinary(input);
      // What the module declares (its target_features section) plus what the
      // command line enabled; stripped only after optimising, as there.
      module.setFeatures(module.getFeatures() | wanted);
      if (!module.validate()) throw new Error("binaryen rejects the module it read");
      module.optimize();
      module.runPasses(["strip-producers", "strip-target-features"]);
      const output = module.emitBinary();
      writeFileSync(`${file}.opt`, output);
      renameSync(`${file}.opt`, file);
      parentPort.postMessage({ file, before: input.length, after: output.length, ms: Date.now() - t0 });
    } catch (e) {
      parentPort.postMessage({ file, error: String(e && e.message ? e.message : e) });
    } finally {
      if (module) module.dispose();
    }
  });
  parentPort.postMessage({ ready: true });
}
