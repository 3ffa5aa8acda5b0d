//! The WASM entry point: hydrates the server-rendered page into the live app.
//! Everything else lives in the `app` crate.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Each page's code is a chunk of its own (`app::pages`, lazy routes), so
    // hydrating waits for the open page's chunk to arrive before it walks the
    // server's HTML; until then the page works as plain HTML.
    wasm_bindgen_futures::spawn_local(async {
        let Some(body) = leptos::prelude::document().body() else {
            return;
        };
        leptos::mount::hydrate_from_async(body.clone(), app::App)
            .await
            .forget();
        // Lets browser tests (and curious people) see that the page is interactive.
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
