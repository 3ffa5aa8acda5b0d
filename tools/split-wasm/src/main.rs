//! Splits the hydrate build's WASM at the split points Leptos's lazy routes
//! declare, before wasm-bindgen runs (scripts/build_site.sh, docs/building.md):
//!
//!   split-wasm <input.wasm> <out_dir> <main.wasm> <name>
//!
//! writes the main module to <main.wasm> (for wasm-bindgen), one module per
//! lazy route and one per piece of code they share into <out_dir>, the loader
//! they import, and `__wasm_split_manifest.json`, which tells the server which
//! modules each route needs so a page's head can preload them.

use std::path::Path;
use std::process::ExitCode;

/// The loader's file name Leptos 0.8 links in a page's head when file names
/// are not hashed; the main module imports the same name.
const LOADER: &str = "./__wasm_split.______________________.js";
const MANIFEST: &str = "__wasm_split_manifest.json";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--version") {
        println!("split-wasm {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let [input, out_dir, main_out, name] = args.as_slice() else {
        eprintln!("usage: split-wasm <input.wasm> <out_dir> <main.wasm> <name>");
        return ExitCode::from(2);
    };
    match split(
        Path::new(input),
        Path::new(out_dir),
        Path::new(main_out),
        name,
    ) {
        Ok(modules) => {
            println!("split-wasm: {modules} lazy-loaded modules");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("split-wasm: {error}");
            ExitCode::FAILURE
        }
    }
}

fn split(
    input: &Path,
    out_dir: &Path,
    main_out: &Path,
    name: &str,
) -> Result<usize, Box<dyn std::error::Error>> {
    let wasm = std::fs::read(input).map_err(|e| format!("reading {}: {e}", input.display()))?;
    // The chunks import what they share with the main module through
    // wasm-bindgen's JS glue, which scripts/build_site.sh names <name>.js.
    let main_module = format!("./{name}.js");
    let mut options = wasm_split_cli_support::Options::new(&wasm);
    options.output_dir = out_dir;
    options.main_out_path = main_out;
    options.main_module = &main_module;
    options.link_name = LOADER;
    // `{:?}` of the library's error carries its whole chain of causes.
    let split = wasm_split_cli_support::transform(options).map_err(|e| format!("{e:?}"))?;
    let manifest = serde_json::to_string_pretty(&split.prefetch_map)?;
    std::fs::write(out_dir.join(MANIFEST), manifest)?;
    Ok(split.split_modules.len())
}
